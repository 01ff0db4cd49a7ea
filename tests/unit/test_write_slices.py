"""How large writes are cut: attribute saves in the service, SQLite uploads into slices."""

from __future__ import annotations

import pytest

from thingport.domain.model import DataType, KvEntry
from thingport.services import attributes
from thingport.services.attributes import write_slices
from thingport.store.postgresql import uploads as pg_uploads
from thingport.store.sqlite import uploads
from thingport.store.sqlite.large_values import LARGE, mark_large, value_size


def entries(*sizes: int) -> list[KvEntry]:
    return [KvEntry(f"k{i}", DataType.STRING, "x" * n) for i, n in enumerate(sizes)]


def test_a_small_save_is_one_write() -> None:
    small = entries(1, 2, 3)
    assert write_slices(small) == [small]


def test_saves_are_cut_by_count_and_by_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attributes, "SLICE_ENTRIES", 3)
    monkeypatch.setattr(attributes, "SLICE_CHARS", 10)
    many = entries(1, 1, 1, 1, 1, 1, 1)
    assert [len(p) for p in write_slices(many)] == [3, 3, 1]
    # A value larger than the budget still goes, alone.
    assert [[e.key for e in p] for p in write_slices(entries(4, 5, 20, 1, 9))] == [
        ["k0", "k1"], ["k2"], ["k3", "k4"]]


def test_upload_slices_by_rows_and_by_large_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "SLICE_ROWS", 4)
    monkeypatch.setattr(uploads, "SLICE_BYTES", 2500)
    rows = [(1, 1, ts, 4, "x" * (1000 if ts in (5, 6, 7, 9) else 1)) for ts in range(12)]
    large = mark_large(rows, 3)
    assert large == [(5, 1000), (6, 1000), (7, 1000), (9, 1000)]
    assert all(rows[i][3] == 4 | LARGE for i, _ in large)
    upload = uploads.Upload("device", 1, rows, large)
    ends = []
    while upload.done < len(rows):
        upload.done = upload.slice_end()
        ends.append(upload.done)
    assert ends == [4, 7, 11, 12]  # 4 rows; 2 large values fit, the 3rd starts the next


def test_value_sizes_count_utf8_bytes() -> None:
    assert value_size(4, "x" * 900) == 0
    assert value_size(4, "x" * 901) == 901
    assert value_size(5, "é" * 451) == 902
    assert value_size(2, 10**20) == 0


def test_postgresql_upload_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_uploads, "SLICE_ROWS", 3)
    monkeypatch.setattr(pg_uploads, "SLICE_BYTES", 10)
    rows = [(1, ts, None, "x" * n, None, None, None) for ts, n in enumerate([1, 1, 1, 1, 8, 4])]
    assert [len(p) for p in pg_uploads.slices(rows)] == [3, 2, 1]
    assert pg_uploads.is_upload(rows)
    assert not pg_uploads.is_upload(rows[:3])
