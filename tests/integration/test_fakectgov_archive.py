"""The fake registry's whole-registry archive: the real layout, 400 for filters, Range
requests, cut answers, and archives made truncated or corrupt."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import httpx
import orjson
import pytest

from sync.testing import archive
from sync.testing.factory import make_study, nct
from sync.testing.fakectgov import FakeRegistry


def _url(fake: FakeRegistry) -> str:
    return f"http://127.0.0.1:{fake.port}{archive.ARCHIVE_PATH}"


def _fill(fake: FakeRegistry, n: int) -> list[str]:
    ids = [nct(i) for i in range(101, 101 + n)]
    for i in ids:
        fake.put(make_study(i))
    return ids


def test_the_archive_has_one_full_record_an_entry_in_folders_by_the_ids_last_two_digits(
    fake_ctgov: FakeRegistry,
) -> None:
    ids = _fill(fake_ctgov, 5)
    fake_ctgov.publish_archive()
    answer = httpx.get(_url(fake_ctgov), params=archive.ARCHIVE_PARAMS)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/zip"
    assert archive.ARCHIVE_NAME in answer.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as zf:
        names = zf.namelist()
        assert names == sorted(f"{i[-2:]}/{i}.json" for i in ids)
        for i in ids:
            assert orjson.loads(zf.read(f"{i[-2:]}/{i}.json")) == fake_ctgov.get(i)


def test_a_study_updated_after_the_archive_was_made_is_not_in_it(
    fake_ctgov: FakeRegistry,
) -> None:
    (first,) = _fill(fake_ctgov, 1)
    fake_ctgov.publish_archive()
    fake_ctgov.put(make_study(first, title="Retitled after the archive"))
    body = httpx.get(_url(fake_ctgov), params=archive.ARCHIVE_PARAMS).content
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        stored = orjson.loads(zf.read(archive.entry_name(first)))
    assert stored["protocolSection"]["identificationModule"]["briefTitle"] != (
        "Retitled after the archive"
    )


@pytest.mark.parametrize(
    "params",
    [
        {"format": "json.zip", "filter.overallStatus": "RECRUITING"},
        {"format": "json.zip", "query.cond": "lung cancer"},
        {"format": "csv"},
        {},
    ],
)
def test_every_filter_answers_400(fake_ctgov: FakeRegistry, params: dict[str, str]) -> None:
    _fill(fake_ctgov, 1)
    fake_ctgov.publish_archive()
    answer = httpx.get(_url(fake_ctgov), params=params)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "text/plain"


def test_a_range_request_gets_the_rest_and_ranges_can_be_refused(
    fake_ctgov: FakeRegistry,
) -> None:
    _fill(fake_ctgov, 3)
    whole = fake_ctgov.publish_archive()
    assert isinstance(whole, bytes)
    part = httpx.get(
        _url(fake_ctgov), params=archive.ARCHIVE_PARAMS, headers={"Range": "bytes=100-"}
    )
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    assert part.content == whole[100:]
    fake_ctgov.archive_ranges = False
    full = httpx.get(
        _url(fake_ctgov), params=archive.ARCHIVE_PARAMS, headers={"Range": "bytes=100-"}
    )
    assert full.status_code == 200
    assert "Accept-Ranges" not in full.headers
    assert full.content == whole


def test_a_cut_answer_stops_short_of_its_length(fake_ctgov: FakeRegistry) -> None:
    _fill(fake_ctgov, 3)
    fake_ctgov.publish_archive()
    fake_ctgov.archive_cuts = [500]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(_url(fake_ctgov), params=archive.ARCHIVE_PARAMS)
    assert httpx.get(_url(fake_ctgov), params=archive.ARCHIVE_PARAMS).status_code == 200


def test_an_archive_on_disk_is_served_the_same(fake_ctgov: FakeRegistry, tmp_path: Path) -> None:
    _fill(fake_ctgov, 3)
    path = fake_ctgov.publish_archive(tmp_path / archive.ARCHIVE_NAME)
    assert isinstance(path, Path)
    body = httpx.get(
        _url(fake_ctgov), params=archive.ARCHIVE_PARAMS, headers={"Range": "bytes=10-"}
    ).content
    assert body == path.read_bytes()[10:]


def test_a_truncated_archive_has_no_central_directory() -> None:
    data = archive.build_archive(make_study(nct(i)) for i in range(1, 20))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(archive.truncated(data)))


@pytest.mark.parametrize("kind", ["data", "crc"])
def test_a_corrupt_entry_fails_when_it_is_read(kind: str) -> None:
    data = archive.build_archive(make_study(nct(i)) for i in range(1, 6))
    bad = archive.corrupted(data, 2, kind=kind)
    assert len(bad) == len(data)
    with zipfile.ZipFile(io.BytesIO(bad)) as zf:
        names = zf.namelist()
        zf.read(names[1])  # the others are whole
        with pytest.raises((zipfile.BadZipFile, zlib.error)) as caught:
            zf.read(names[2])
    if kind == "crc":
        assert "CRC" in str(caught.value)


def test_the_sample_archive_holds_real_records(tmp_path: Path) -> None:
    path = archive.sample_archive(30, tmp_path / archive.ARCHIVE_NAME)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert len(names) == 30
        doc = orjson.loads(zf.read(names[0]))
    assert "protocolSection" in doc and "derivedSection" in doc
