import pytest

from bundle.errors import ParseError
from bundle.runner.logwriter import Journal, LogWriter, repair_log


def test_blocks_end_in_lf_the_trailer_does_not_and_resume_continues_clock(tmp_path):
    path = tmp_path / "log.txt"
    w = LogWriter(path)
    w.write([w.line("session", "m-session-start-id[1]"), w.line("dut", "m-ready")])
    text = path.read_text()
    assert text.endswith("\n") and text.split("\n")[0].startswith("00000.")
    w2 = LogWriter(path)
    assert w2.resumed
    w2.emit("runner", "m-resume-[x]")
    w2.write([w2.line("session", "Saved this run to session ID 1")], final=True)
    lines = path.read_text().split("\n")
    assert len(lines) == 4 and float(lines[2].split()[0]) > float(lines[1].split()[0])
    assert not path.read_text().endswith("\n")        # a finished log, as EnergyRunner leaves it
    assert w2.finished("1") and not w2.finished("2")


def test_torn_log_is_cut_back_to_the_last_record_block(tmp_path):
    path = tmp_path / "log.txt"
    w = LogWriter(path)
    w.write([w.line("session", "m-session-start-id[7]")])
    at = w.size()
    w.write([w.line("dut", "m-results-[0.5]"), w.line("dut", "m-ready")])
    with open(path, "a") as fh:
        fh.write("00000.0")                               # a crash inside the next stamp
    cut = repair_log(path, [{"key": "a", "log_at": at}], "7")
    assert path.stat().st_size == at and cut > 0
    assert repair_log(path, [{"key": "a", "log_at": at}], "7") == 0      # nothing torn: untouched


def test_torn_log_without_records_starts_over(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("00000.001 session: m-session-start-id[7]\n00000.0")
    assert repair_log(path, [], "7") > 0 and path.read_text() == ""


def test_journal_cuts_a_torn_last_line(tmp_path):
    j = Journal(tmp_path / "run.jsonl")
    rec = {"key": "a", "block": [], "values": [0.5]}
    j.append(rec)
    with open(j.path, "a") as fh:
        fh.write('{"key": "b"')          # crash mid-write
    assert [r["key"] for r in j.records()] == ["a"]
    j.append({**rec, "key": "c"})
    assert [r["key"] for r in j.records()] == ["a", "c"]
    assert '"b"' not in j.path.read_text()


@pytest.mark.parametrize("line", ['{"key": "b"}', "[1]", '{"key":"b","block":[],"values":[NaN]}', "x" * 10])
def test_journal_damage_before_the_last_line_is_a_parse_error(tmp_path, line):
    j = Journal(tmp_path / "run.jsonl")
    j.path.write_text(line + "\n" + '{"key":"a","block":[],"values":[]}\n')
    with pytest.raises(ParseError, match=r"run.jsonl:1:"):
        j.records()
