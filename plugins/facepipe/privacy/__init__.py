"""Faces are biometric data: forgetting a person or a photo everywhere, retention of
days, and least privilege for report readers."""
