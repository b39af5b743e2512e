"""Active content taken out of an uploaded PDF before it is signed, stored and served inline:
scripts, actions that launch programs, send or import data, media, embedded files and XFA
forms. What is left is what a reader sees: pages, their pictures and text, plain links.

Run on the pikepdf document in the worker pool (pages.py), walking every object reachable
from the document's catalogue; what becomes unreachable is not written when it is saved."""

from __future__ import annotations

import pikepdf

# Actions that run code, start programs, send or import data, play media or open other
# files; an action of any other kind (a jump within the file, a URI link) is kept.
ACTIVE_ACTIONS = frozenset({
    "/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/RichMediaExecute", "/GoToE",
    "/GoToR", "/Rendition", "/Sound", "/Movie"})
# Annotations that carry media, files or 3D content: removed from their page.
ACTIVE_ANNOTATIONS = frozenset({
    "/RichMedia", "/FileAttachment", "/Screen", "/Movie", "/Sound", "/3D"})
# Keys removed wherever they are: event triggers (document, page, field, annotation), the
# catalogue's JavaScript and embedded-file name trees, a portfolio, XFA, embedded streams.
REMOVED_KEYS = ("/OpenAction", "/AA", "/JS", "/JavaScript", "/EmbeddedFiles", "/Collection",
                "/XFA", "/NeedsRendering", "/EF", "/RF", "/RichMediaContent")


def _is_active(action: pikepdf.Object) -> bool:
    return isinstance(action, pikepdf.Dictionary) and str(action.get("/S")) in ACTIVE_ACTIONS


def _clean(obj: pikepdf.Object, removed: set[str]) -> None:
    """One dictionary (or stream dictionary) made inert; its children are walked after."""
    for key in REMOVED_KEYS:
        if key in obj:
            del obj[key]
            removed.add(key)
    if "/A" in obj and _is_active(obj["/A"]):
        removed.add(str(obj["/A"]["/S"]))
        del obj["/A"]
    chained = obj.get("/Next")
    if isinstance(chained, pikepdf.Array):
        kept = [a for a in chained if not _is_active(a)]
        if len(kept) != len(chained):
            obj["/Next"] = pikepdf.Array(kept)
            removed.add("/Next")
    elif chained is not None and _is_active(chained):
        del obj["/Next"]
        removed.add("/Next")
    if str(obj.get("/S")) in ACTIVE_ACTIONS:
        # An action reached some other way (an outline, a name tree): emptied in place.
        removed.add(str(obj["/S"]))
        for key in list(obj.keys()):
            del obj[key]
    annotations = obj.get("/Annots")
    if isinstance(annotations, pikepdf.Array):
        kept = [a for a in annotations if not (isinstance(a, pikepdf.Dictionary) and str(
            a.get("/Subtype")) in ACTIVE_ANNOTATIONS)]
        if len(kept) != len(annotations):
            removed.update(str(a.get("/Subtype")) for a in annotations
                           if isinstance(a, pikepdf.Dictionary)
                           and str(a.get("/Subtype")) in ACTIVE_ANNOTATIONS)
            obj["/Annots"] = pikepdf.Array(kept)


def strip_active_content(doc: pikepdf.Pdf) -> set[str]:
    """Every object reachable from the catalogue made inert, in place; the names of what
    was taken out (empty for a clean file)."""
    removed: set[str] = set()
    stack: list[pikepdf.Object] = [doc.Root]
    seen: set[tuple[int, int]] = set()
    while stack:  # iterative: a hostile file may nest deeper than Python's recursion
        obj = stack.pop()
        if obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
        if isinstance(obj, pikepdf.Array):
            stack.extend(o for o in obj if isinstance(o, _CONTAINERS))
            continue
        _clean(obj, removed)
        stack.extend(o for o in (obj[key] for key in list(obj.keys()))
                     if isinstance(o, _CONTAINERS))
    return removed


_CONTAINERS = (pikepdf.Dictionary, pikepdf.Stream, pikepdf.Array)
