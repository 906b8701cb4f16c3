"""What the Faces view says about a suggestion's evidence, in people's words: how close the
face (or the two identities) are, how sure the nightly assignment was and why not, and who
is the next nearest. The command line keeps its terse form (facepipe.people.suggestions)."""

from __future__ import annotations

import re

from facepipe.core.text import display_name, plural

# why the nightly assignment did not let a face join by itself (facepipe.people.identities)
NOT_SURE = {
    "far": "it is within the threshold, but further than faces that join by themselves",
    "outside its radius": "it is further out than this identity's own faces usually are",
    "no close member": "none of this identity's faces is close to it",
    "another identity as near": "another identity is almost as near",
}


def who(identity_id, name) -> str:
    if identity_id is None:
        return "an identity"
    return display_name(name) if name else f"unnamed identity #{identity_id}"


def _d(value) -> str | None:
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return None


def closeness(distance, threshold: float) -> str:
    """A distance said against the model's threshold."""
    try:
        d = float(distance)
    except (TypeError, ValueError):
        return "not measured"
    if d < 0.75 * threshold:
        return "very close"
    if d < threshold:
        return "close"
    return "not close"


def evidence_words(r: dict, threshold: float, next_nearest: tuple | None = None) -> list[str]:
    """Sentences for one suggestion row (facepipe.people.suggestions.list_suggestions); never
    "None": what is not known is left out. ``next_nearest``: (identity_id, name, distance)."""
    e = r.get("evidence") or {}
    out = []
    if r.get("kind") == "face" and e.get("why") == "tag":  # facepipe.people.tags: a photo manager's tag
        me = who(r.get("identity_id"), r.get("identity_name"))
        where = "its sidecar" if str(e.get("file") or "") != "embedded" else "the photo itself"
        return [
            f"The photo's tag says {str(e.get('tag') or me)}: a face region written by a photo manager"
            f" ({'MWG' if e.get('format') == 'mwg' else 'Microsoft' if e.get('format') == 'mp' else 'XMP'} region in"
            f" {where}), where facepipe has this face as another person.",
            "Nothing was changed: answer yes to move the face to them, no to keep it where it is.",
        ]
    if r.get("kind") == "face":
        me = who(r.get("identity_id"), r.get("identity_name"))
        d = _d(e.get("distance"))
        if d is not None:
            line = f"How close: {d} from {me}'s typical face ({closeness(e.get('distance'), threshold)}; the same person is usually under {threshold})"
            nm = _d(e.get("nearest_member"))
            out.append(line + (f", {nm} from the nearest of their faces." if nm is not None else "."))
        why = NOT_SURE.get(str(e.get("why") or ""))
        out.append(
            f"How sure: not sure enough to add it unasked: {why}."
            if why
            else "How sure: not sure enough to add it unasked."
        )
        if next_nearest is not None and next_nearest[0] is not None and next_nearest[2] is not None:
            out.append(f"Next nearest: {who(next_nearest[0], next_nearest[1])}, {_d(next_nearest[2])} away.")
        elif next_nearest is not None and next_nearest[2] is not None:  # a hidden identity: not named
            out.append(f"Next nearest: another identity, {_d(next_nearest[2])} away.")
        elif _d(e.get("next_distance")) is not None:
            out.append(f"Next nearest: another identity, {_d(e.get('next_distance'))} away.")
        else:
            out.append("Next nearest: no other identity is near.")
        faces = r.get("identity_faces")
        if faces is not None:
            out.append(f"{me} has {plural(faces, 'face')}.")
        return out
    a, b = who(r.get("identity_id"), r.get("identity_name")), who(r.get("other_id"), r.get("other_name"))
    d = _d(e.get("centroid_distance"))
    if d is not None:
        out.append(
            f"How close: their typical faces are {d} apart ({closeness(e.get('centroid_distance'), threshold)};"
            f" the same person is usually under {threshold})."
        )
    fa = r.get("identity_faces") if r.get("identity_faces") is not None else e.get("faces")
    fb = r.get("other_faces") if r.get("other_faces") is not None else e.get("other_faces")
    if fa is not None and fb is not None:
        out.append(f"{a} has {plural(fa, 'face')}, {b} {plural(fb, 'face')}.")
    between = e.get("faces_between")
    if between:
        out.append(f"How sure: {plural(between, 'face')} lie between them, as near to one as to the other.")
    else:
        out.append("How sure: not sure enough to merge them unasked.")
    return out


def question_words(r: dict) -> str:
    """The question of a suggestion, with names as people write them."""
    if r.get("kind") == "face":
        return f"Is this face {who(r.get('identity_id'), r.get('identity_name'))}?"
    a, b = who(r.get("identity_id"), r.get("identity_name")), who(r.get("other_id"), r.get("other_name"))
    return f"Are {a} and {b} one person?"


_COMMAND = re.compile(r"\s*\((?:[^()]*`[^`()]*`[^()]*|(?:people|facepipe) [^()]*)\)")


def without_commands(text: str) -> str:
    """A message of the shared operations (the command line's too) without its asides that
    name a command (``(`facepipe people list` ...)``, ``(people merge 4 2)``): the view's
    notices say what happened in the view's words, with no command to type."""
    return _COMMAND.sub("", text)
