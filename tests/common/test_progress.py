"""JobProgress: a bar on a terminal, a few plain lines in a captured log."""

import io

from maestro_common.progress import JobProgress


def test_a_log_gets_one_line_per_change_and_the_last_state():
    log = io.StringIO()
    with JobProgress(unit="episodes", stream=log, tty=False, min_interval_s=0.0, heartbeat_s=3600) as progress:
        for done in range(5):
            progress.update("EvaluateTask running", done, 12, "playing")  # same message: one line
        progress.update("EvaluateTask running", 6, 12, "episode 6/12")
        progress.update("EvaluateTask succeeded", 12, 12, "Gnomish Mines: 0.0")
    lines = log.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("EvaluateTask running: 0/12 episodes") and lines[0].endswith("playing")
    assert lines[-1].startswith("EvaluateTask succeeded: 12/12 episodes") and "\r" not in log.getvalue()


def test_changes_faster_than_the_interval_are_coalesced_but_the_end_is_written():
    log = io.StringIO()
    progress = JobProgress(stream=log, tty=False, min_interval_s=3600, heartbeat_s=3600)
    for done in range(100):
        progress.update("TrainSkills running", done * 64, 0, f"{done * 64} env steps")
    progress.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2, lines  # the first update and the last
    assert lines[0].startswith("TrainSkills running: 0 ") and lines[1].endswith("6336 env steps")


def test_a_terminal_gets_a_bar():
    screen = io.StringIO()
    with JobProgress(unit="steps", stream=screen, tty=True) as progress:
        progress.update("TrainSkills running", 10, 100, "warming up")
    assert "\r" in screen.getvalue() and "10/100" in screen.getvalue()
