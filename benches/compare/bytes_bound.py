#!/usr/bin/env python3
"""How close a Hearth table's Parquet files are to the information in the data.

Reads every Parquet file of a table directory (e.g. DATA/objects/bench/cpu), prints the bytes
per row of each column as stored, and, for integer fields, the empirical entropy of the step
from one reading to the next of the same series (tags): a lossless encoding of a random walk
cannot use fewer bits per value than that on average. Then re-encodes the first file with
pyarrow in the other standard Parquet encodings, to show what each would cost.

    python3 benches/compare/bytes_bound.py /tmp/hearth-data/objects/bench/cpu
"""

import collections
import glob
import io
import math
import os
import sys

import pyarrow.parquet as pq


def entropy(counts):
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def main():
    table_dir = sys.argv[1]
    files = sorted(glob.glob(os.path.join(table_dir, "**", "*.parquet"), recursive=True))
    if not files:
        sys.exit(f"no Parquet files under {table_dir}")
    rows = 0
    stored = collections.Counter()
    for f in files:
        md = pq.ParquetFile(f).metadata
        rows += md.num_rows
        for g in range(md.num_row_groups):
            group = md.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                stored[column.path_in_schema] += column.total_compressed_size
    total = sum(os.path.getsize(f) for f in files)
    print(f"{len(files)} files, {rows} rows, {total} bytes: {total / rows:.3f} B/row")

    # Steps within each series, over all files (each file is sorted by tags, then time).
    schema = pq.ParquetFile(files[0]).schema_arrow
    tags = [f.name for f in schema if str(f.type) in ("string", "large_string", "string_view")]
    ints = [f.name for f in schema if str(f.type) == "int64"]
    steps = {name: collections.Counter() for name in ints}
    for f in files:
        t = pq.read_table(f)
        keys = list(zip(*(t.column(n).to_pylist() for n in tags))) if tags else [()] * t.num_rows
        for name in ints:
            values = t.column(name).to_pylist()
            for i in range(1, len(values)):
                if keys[i] == keys[i - 1] and values[i] is not None and values[i - 1] is not None:
                    steps[name][values[i] - values[i - 1]] += 1
    bound = 0.0
    print(f"{'column':22s} {'stored B/row':>12s} {'step entropy bits':>18s} {'bound B/row':>12s}")
    for name, size in stored.most_common():
        if name in steps and steps[name]:
            bits = entropy(steps[name])
            bound += bits / 8
            print(f"{name:22s} {size / rows:12.3f} {bits:18.3f} {bits / 8:12.3f}")
        else:
            print(f"{name:22s} {size / rows:12.3f}")
    fields = sum(stored[n] for n in ints) / rows
    print(f"integer fields: {fields:.3f} B/row stored, {bound:.3f} B/row entropy bound "
          f"({bound / fields:.0%} of stored)")

    t = pq.read_table(files[0])
    int_columns = ints + [f.name for f in schema if str(f.type).startswith("timestamp")]
    variants = {
        "delta + zstd 3 (Hearth)": dict(column_encoding={c: "DELTA_BINARY_PACKED" for c in int_columns},
                                        compression="zstd", compression_level=3),
        "delta + zstd 19": dict(column_encoding={c: "DELTA_BINARY_PACKED" for c in int_columns},
                                compression="zstd", compression_level=19),
        "plain + zstd 19": dict(column_encoding={c: "PLAIN" for c in int_columns},
                                compression="zstd", compression_level=19),
        "byte stream split + zstd 3": dict(column_encoding={c: "BYTE_STREAM_SPLIT" for c in int_columns},
                                           compression="zstd", compression_level=3),
        "dictionaries + zstd 3": dict(compression="zstd", compression_level=3),
    }
    print(f"re-encoding {os.path.basename(files[0])} ({t.num_rows} rows):")
    for label, options in variants.items():
        out = io.BytesIO()
        dictionary = tags if "column_encoding" in options else True
        pq.write_table(t, out, use_dictionary=dictionary, row_group_size=65536, **options)
        print(f"  {label:28s} {out.tell() / t.num_rows:.3f} B/row")


if __name__ == "__main__":
    main()
