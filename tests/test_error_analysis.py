"""benchmarks/error_analysis.py's re-strike recall: each note is binned by its own key's last strike."""

from sound2sheet.notes import NoteEvent
from tests.conftest import load_benchmark

error_analysis = load_benchmark("error_analysis")


def test_restrike_recall_bins_by_the_same_keys_previous_onset():
    ref = [
        NoteEvent(pitch=60, onset=0.0, offset=0.1),   # first strike of 60
        NoteEvent(pitch=62, onset=0.05, offset=0.5),  # first of 62: another key's onset does not count
        NoteEvent(pitch=60, onset=0.2, offset=0.3),   # 200 ms after 60's last strike
        NoteEvent(pitch=60, onset=0.4, offset=0.5),   # 200 ms again
        NoteEvent(pitch=62, onset=2.0, offset=2.5),   # 1.95 s after 62's
    ]
    rows = {label: (n, share) for label, n, share in error_analysis.restrike_recall(ref, found={0, 2, 4})}
    assert rows["first"] == (2, 0.5)
    assert rows["150-300 ms"] == (2, 0.5)
    assert rows["0-150 ms"][0] == 0 and rows["300-1000 ms"][0] == 0
    assert rows[">1000 ms"] == (1, 1.0)
