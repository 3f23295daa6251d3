"""Input at scale: `add` of thousands of IDs from an argument, a file or standard input."""

from __future__ import annotations

from pathlib import Path

from sync.testing.factory import nct


def _ids(n: int, start: int = 1) -> list[str]:
    return [nct(i) for i in range(start, start + n)]


def test_a_long_argument_is_split_and_its_error_is_bounded(cli) -> None:
    ids = _ids(3000)
    bad = [*ids[:10], "NCT123", *ids[10:], "XYZ" * 50, "bogus"]
    r = cli("add", " ".join(bad))
    assert r.exit_code == 2
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and len(line) < 160, line
    assert "3 of 3,003 IDs are not NCT IDs" in line and "the first: 'NCT123'" in line
    assert cli("list", "--json").json() == []
    # The same argument without the bad ones: every ID added (commas work too).
    r = cli("add", ",".join(ids[:1500]) + " " + " ".join(ids[1500:]), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["added"] == ids and r.json()["already_tracked"] == []


def test_one_huge_bad_argument_is_quoted_cut_short(cli) -> None:
    r = cli("add", "N" * 120_000)
    assert r.exit_code == 2
    assert len(r.stderr) < 200 and "NNNN…'" in r.stderr and "8 digits" in r.stderr


def test_add_from_a_file_with_comments_blank_lines_and_commas(cli, tmp_path: Path) -> None:
    ids = _ids(2000)
    lines = ["# my trials", "", *ids[:1000], "  " + ", ".join(ids[1000:1500]) + "  # a comment"]
    lines += [" ".join(ids[1500:]), nct(1).lower(), ""]
    f = tmp_path / "ids.txt"
    f.write_text("\n".join(lines), encoding="utf-8")
    r = cli("add", "--from", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json() == {"added": ids, "already_tracked": []}
    listed = cli("list", "--json").json()
    assert len(listed) == 2000 and {x["registry_state"] for x in listed} == {"unknown"}
    # Again, with one more as an argument: the known ones are named as such, counted past 20.
    r = cli("add", nct(5000), "--from", str(f))
    assert r.exit_code == 0, r.stderr
    assert f"added {nct(5000)}" in r.stdout
    assert f"{nct(1)} is already tracked" in r.stdout
    assert "1,980 more already tracked" in r.stdout
    assert len(r.stdout.splitlines()) == 22


def test_add_from_standard_input(cli) -> None:
    ids = _ids(500)
    r = cli("add", "--from", "-", "--json", input="\n".join(ids) + "\n")
    assert r.exit_code == 0, r.stderr
    assert r.json()["added"] == ids


def test_bad_ids_in_a_file_add_nothing_and_name_the_file(cli, tmp_path: Path) -> None:
    f = tmp_path / "ids.txt"
    f.write_text("\n".join([*_ids(100), "NCT1234567", "x"]), encoding="utf-8")
    r = cli("add", "--from", str(f))
    assert r.exit_code == 2
    assert f"2 of 102 IDs in {f} are not NCT IDs" in r.stderr
    assert "'NCT1234567'" in r.stderr
    assert cli("list", "--json").json() == []


def test_empty_input_and_unreadable_files_are_one_line(cli, tmp_path: Path) -> None:
    r = cli("add", "--from", "-", input="# nothing\n\n")
    assert r.exit_code == 2 and "no NCT IDs in standard input" in r.stderr
    r = cli("add")
    assert r.exit_code == 2 and "no NCT IDs given" in r.stderr
    r = cli("add", "--from", str(tmp_path / "missing.txt"))
    assert r.exit_code == 2 and "No such file" in r.stderr
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"NCT00000001\n\xe9\n")
    r = cli("add", "--from", str(latin))
    assert r.exit_code == 2 and "is not UTF-8 text" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
