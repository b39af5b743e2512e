"""Uploaded files at the HTTP edge: the body limits (scans may be large, nothing else may),
and the pages of a scan read from a multipart form, checked by their first bytes and by what
their pictures would take in memory once decoded (told from their headers)."""

from __future__ import annotations

import re

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.common import Problem
from services.common.http.edge import ApiError, BodyLimit
from services.digitization.pages import (
    SNIFF_BYTES,
    ImageLimits,
    Kind,
    images_memory,
    sniff,
)

# The routes that take files; every other route keeps the small JSON limit.
UPLOAD_PATHS = re.compile(
    r"^/api/v1/(dossiers/[^/]+/components/[^/]+/scan|sign|documents/verify)$")


class UploadLimits:
    """Pure ASGI, around the runtime's limit (raised to the larger of the two): routes that
    take files are held to the upload limit, every other route to the JSON limit, each by
    the shared BodyLimit (Content-Length first, then counting a streamed body)."""

    def __init__(self, app: ASGIApp, json_max_bytes: int, upload_max_bytes: int) -> None:
        self.json = BodyLimit(app, json_max_bytes)
        self.upload = BodyLimit(app, upload_max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upload = scope["type"] == "http" and UPLOAD_PATHS.match(scope.get("path", ""))
        await (self.upload if upload else self.json)(scope, receive, send)


def _problem(status: int, code: str, vi: str, en: str, field: str) -> ApiError:
    return ApiError(status, [Problem.of(code, vi, en, field)])


async def read_pages(request: Request, limits: ImageLimits
                     ) -> tuple[list[bytes], dict[str, str]]:
    """The files of a multipart scan (every file part, in order) and its text fields.
    Refused: no file, an empty file, a file that is neither a PNG, JPEG or TIFF image nor a
    PDF (by its first bytes, whatever its name or declared type), a PDF with anything else,
    pictures that would take more memory once decoded than `limits` allow (413, from their
    headers: nothing is decoded here)."""
    try:
        form = await request.form(max_files=limits.pages, max_fields=20)
    except ClientDisconnect as exc:  # the body limit answered 413 already
        raise _problem(413, "body_too_large", "Tệp quá lớn", "the upload is too large",
                       "pages") from exc
    except Exception as exc:  # a malformed multipart body, or too many parts
        raise _problem(400, "bad_multipart", "Không đọc được nội dung tải lên (multipart)",
                       f"the multipart body cannot be read: {exc}"[:300], "pages") from exc
    files: list[bytes] = []
    fields: dict[str, str] = {}
    kinds: list[Kind] = []
    for name, value in form.multi_items():
        if not isinstance(value, UploadFile):
            fields[name] = str(value)
            continue
        data = await value.read()
        where = f"pages[{len(files)}]"
        if not data:
            raise _problem(422, "empty_file", f"Tệp {value.filename or where} rỗng",
                           f"file {value.filename or where} is empty", where)
        kind = sniff(data[:SNIFF_BYTES])
        if kind is None:
            raise _problem(415, "unsupported_file",
                           f"Tệp {value.filename or where} không phải ảnh PNG, JPEG, TIFF "
                           "hoặc PDF", f"file {value.filename or where} is not a PNG, JPEG or "
                           "TIFF image nor a PDF (judged by its content)", where)
        files.append(data)
        kinds.append(kind)
    if not files:
        raise _problem(422, "no_pages", "Chưa có trang nào được tải lên",
                       "no page was uploaded (multipart file parts expected)", "pages")
    if Kind.pdf in kinds and len(files) > 1:
        raise _problem(422, "pdf_alone", "Tệp PDF phải được tải lên riêng, không kèm ảnh "
                       "hay PDF khác", "a PDF is taken alone: one PDF, or page images",
                       "pages")
    if Kind.pdf not in kinds:  # a PDF's pictures are measured in the worker, from the PDF
        images_memory(files, limits)  # ImageTooLarge or BadScan, naming the page
    return files, fields
