"""OCR accuracy and time per page on the synthetic forms.

    python -m services.digitization.ocr.evaluate [--per-person N] [--dpi D]

Accuracy = fields right / fields read (a field read with a wrong value counts against it;
a field not read is reported apart, as the miss rate). A name is right when equal up to
case (forms ask for capitals); numbers and dates must be equal.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import sys
import time
from collections import Counter

from services.digitization.ocr import Declared, FieldName, extract, missing
from services.digitization.ocr.synthetic import Sample, corpus
from services.digitization.ocr.text import fold


def declared_of(sample: Sample) -> Declared:
    p = sample.person
    return Declared(p.full_name, p.date_of_birth, p.id_number, p.social_insurance_code)


def field_right(name: FieldName, expected: object, value: object) -> bool:
    if name is FieldName.full_name:
        return isinstance(value, str) and str(expected).casefold() == value.casefold()
    return expected == value


def _cpu() -> float:
    # Wall time on a shared machine includes waiting for a core; CPU time does not.
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-person", type=int, default=2,
                        help="distorted copies of each form per person (default 2)")
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args(argv)
    if reason := missing():
        print(f"cannot evaluate: {reason}", file=sys.stderr)
        return 2
    read = right = fields = 0
    by_condition: Counter[str] = Counter()
    wrong_by_condition: Counter[str] = Counter()
    times: list[float] = []
    cpu: list[float] = []
    for sample in corpus(args.per_person):
        png = io.BytesIO()
        sample.image(args.dpi).save(png, format="PNG", dpi=(args.dpi, args.dpi))
        declared = declared_of(sample)
        started, cpu_started = time.perf_counter(), _cpu()
        result = extract(png.getvalue(), sample.form_code, declared)
        times.append(time.perf_counter() - started)
        cpu.append(_cpu() - cpu_started)
        condition = sample.distortion.label
        for name, value in result.fields().items():
            fields += 1
            by_condition[condition] += 1
            if value.value is None:
                wrong_by_condition[condition] += 1
                print(f"  not read: {sample.form_code} {condition} {name.value}")
                continue
            read += 1
            if field_right(name, getattr(declared, name.value), value.value):
                right += 1
            else:
                wrong_by_condition[condition] += 1
                marks = " (diacritics only)" if name is FieldName.full_name and fold(
                    value.value) == fold(str(getattr(declared, name.value))) else ""
                print(f"  wrong:    {sample.form_code} {condition} {name.value}{marks} "
                      f"(confidence {value.confidence:.2f})")
    pages = len(times)
    print(f"pages {pages}, fields {fields}, read {read}, right {right}")
    print(f"accuracy (fields right / fields read): {right}/{read} = {right / max(read, 1):.1%}")
    print(f"recall (fields right / fields on the forms): {right}/{fields} = "
          f"{right / max(fields, 1):.1%}")
    for condition, total in sorted(by_condition.items()):
        ok = total - wrong_by_condition[condition]
        print(f"  {condition:<28} {ok}/{total}")
    print(f"time per page (wall): mean {statistics.mean(times):.2f} s, median "
          f"{statistics.median(times):.2f} s, max {max(times):.2f} s (dpi {args.dpi}, "
          "one tesseract thread)")
    print(f"CPU per page (this process + tesseract): mean {statistics.mean(cpu):.2f} s, "
          f"max {max(cpu):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
