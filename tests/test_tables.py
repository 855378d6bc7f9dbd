"""geomgen.tables: known answers for the markdown table, the atomic report write and the timer."""

from __future__ import annotations

from unittest import mock

import pytest

from geomgen import tables
from geomgen.tables import best_time, markdown_table, publish


def test_markdown_table_known_answer():
    lines = markdown_table(["loss", "ms", "ratio"], [["SW", 12, "1.00"], ("v-DSW", 180.5, "15.04")])
    assert "\n".join(lines) == (
        "| loss | ms | ratio |\n"
        "|---|---|---|\n"
        "| SW | 12 | 1.00 |\n"
        "| v-DSW | 180.5 | 15.04 |"
    )


def test_markdown_table_without_rows_is_header_and_rule():
    assert markdown_table(["a"], []) == ["| a |", "|---|"]


def test_markdown_table_rejects_a_ragged_row():
    with pytest.raises(ValueError, match="2 cells, the header 3"):
        markdown_table(["a", "b", "c"], [[1, 2]])


def test_publish_lines_writes_joined_text_and_prints_it(tmp_path, capsys):
    out = tmp_path / "sub" / "report.md"
    text = publish(out, ["# Title", "", "| a |", "|---|"])
    assert text == "# Title\n\n| a |\n|---|\n"
    assert out.read_text() == text
    assert capsys.readouterr().out == text + "\n"
    assert [p.name for p in out.parent.iterdir()] == ["report.md"]  # no temporary file left


def test_publish_text_is_written_as_it_is_and_echo_can_be_off(tmp_path, capsys):
    out = tmp_path / "r.md"
    assert publish(out, "x\n\n", echo=False) == "x\n\n"
    assert out.read_text() == "x\n\n"
    assert capsys.readouterr().out == ""


def test_publish_failure_halfway_leaves_the_old_file_whole(tmp_path, capsys):
    out = tmp_path / "r.md"
    out.write_text("old\n")

    def half(self, data, *args, **kwargs):  # the write into the temporary file fails halfway
        with open(self, "w") as f:
            f.write(data[:2])
        raise OSError("disk full")

    with mock.patch("pathlib.Path.write_text", half), pytest.raises(OSError, match="disk full"):
        publish(out, ["new text"])
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]
    assert capsys.readouterr().out == ""  # nothing printed for a report that was not written


def test_best_time_is_the_minimum_of_the_repeats():
    clock = iter([0.0, 3.0, 10.0, 11.5, 20.0, 22.0])
    calls = []
    with mock.patch.object(tables.time, "perf_counter", lambda: next(clock)):
        assert best_time(lambda: calls.append(1), 3) == 1.5
    assert len(calls) == 3


def test_best_time_runs_at_least_once():
    calls = []
    assert best_time(lambda: calls.append(1), 0) >= 0.0
    assert calls == [1]
