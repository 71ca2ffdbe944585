from bundle.runner.logwriter import Journal, LogWriter


def test_log_has_no_trailing_lf_and_resume_continues_clock(tmp_path):
    path = tmp_path / "log.txt"
    w = LogWriter(path)
    w.write([w.line("session", "m-session-start-id[1]"), w.line("dut", "m-ready")])
    text = path.read_text()
    assert not text.endswith("\n") and text.split("\n")[0].startswith("00000.")
    w2 = LogWriter(path)
    assert w2.resumed
    w2.emit("runner", "m-resume-[x]")
    lines = path.read_text().split("\n")
    assert len(lines) == 3 and float(lines[2].split()[0]) > float(lines[1].split()[0])


def test_journal_skips_torn_line(tmp_path):
    j = Journal(tmp_path / "run.jsonl")
    j.append({"key": "a"})
    with open(j.path, "a") as fh:
        fh.write('{"key": "b"')          # crash mid-write
    j.append({"key": "c"})
    assert [r["key"] for r in j.records()] == ["a", "c"]
