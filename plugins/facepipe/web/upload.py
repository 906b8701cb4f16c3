"""A search photo uploaded as multipart/form-data, held in memory only.

Starlette's form parser spools a file part past 1 MB to a temporary file; this one
keeps every byte in memory and stops reading at the cap, so an upload leaves nothing
on disk. A body announced larger than the cap is refused before it is read.
"""

from __future__ import annotations

from fastapi import Request

MAX_PARTS = 16  # the search form has five fields; a body of thousands of tiny parts is refused


class UploadRefused(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


async def read_upload(request: Request, max_bytes: int) -> tuple[dict[str, str], bytes]:
    """The form's text fields and the bytes of its file field ``photo``."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in options:
        raise UploadRefused("not_an_upload", "send the photo as multipart/form-data (the search form)")
    limit = max_bytes + 64 * 1024  # room for the form's other fields
    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise UploadRefused(
            "too_large", f"{int(announced):,} bytes is more than {max_bytes:,} (FACEPIPE_WEB_UPLOAD_MAX_MB)"
        )

    parts: list[dict] = []
    header: dict = {"field": b"", "value": b""}

    def on_part_begin():
        if len(parts) >= MAX_PARTS:
            raise UploadRefused("too_many_parts", f"the form has more than {MAX_PARTS} parts (the search form has 5)")
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data, start, end):
        header["field"] += data[start:end]

    def on_header_value(data, start, end):
        header["value"] += data[start:end]

    def on_header_end():
        parts[-1]["headers"][header["field"].lower()] = header["value"]
        header["field"], header["value"] = b"", b""

    def on_part_data(data, start, end):
        parts[-1]["data"] += data[start:end]

    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
        },
    )
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise UploadRefused("too_large", f"more than {max_bytes:,} bytes (FACEPIPE_WEB_UPLOAD_MAX_MB)")
        parser.write(chunk)
    parser.finalize()
    fields: dict[str, str] = {}
    photo = b""
    for part in parts:
        _, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        if name == "photo":
            photo = bytes(part["data"])
        elif name:
            fields[name] = part["data"][:1000].decode("utf-8", "replace")
    if len(photo) > max_bytes:
        raise UploadRefused(
            "too_large", f"{len(photo):,} bytes is more than {max_bytes:,} (FACEPIPE_WEB_UPLOAD_MAX_MB)"
        )
    return fields, photo
