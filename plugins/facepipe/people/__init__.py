"""People: identities kept across nights and re-runs, enrolment of known people, and the
operations on them (name, merge, move), each recorded in the audit."""
