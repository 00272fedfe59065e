"""Why a plate was not read exactly, how far the confidence can be trusted, and
what the formats' repair changed: the tables bench-alpr prints under its
summary. Pure functions of the labels, the events and the debug log, so
`python3 bench/alpr_kinds.py` checks them on made-up cases."""
import json
import re

# Same-length misreads where every differing pair is one of these.
CONFUSIONS = ["O0", "I1", "B8", "S5", "Z2", "D0", "G6"]
KINDS = ["not found", "no read", "slogan/state", "lost at edge", "added at edge", "confusion",
         "edge lost + swap", "other"]


def confusion_pairs(want, got):
    """The confusion pairs that turn want into got, or None when the two
    differ in length, are equal, or differ by anything else."""
    if len(want) != len(got) or want == got:
        return None
    pairs = []
    for a, b in zip(want, got):
        if a == b:
            continue
        pair = next((c for c in CONFUSIONS if {a, b} == set(c)), None)
        if pair is None:
            return None
        pairs.append(pair)
    return pairs


def misread_kind(want, got):
    """The kind of a wrong read got of the plate want."""
    if want in got:
        extra = len(got) - len(want)
        # one character beside the number: a bolt, a frame edge, a sticker;
        # more: the state's name or the slogan read in with it
        return "added at edge" if extra == 1 else "slogan/state"
    if got and (want.startswith(got) or want.endswith(got)):
        return "lost at edge"
    if confusion_pairs(want, got):
        return "confusion"
    if edge_lost_and_swapped(want, got):
        return "edge lost + swap"
    return "other"


def edge_lost_and_swapped(want, got):
    """Whether got is want less one or two characters at its ends with one or
    two of the rest changed: a plate squeezed into a shorter format (a vanity
    plate made to fit a state's serial format by repair)."""
    for cut in (1, 2):
        for i in range(cut + 1):
            part = want[i:len(want) - (cut - i)]
            if len(part) == len(got) and 1 <= sum(a != b for a, b in zip(part, got)) <= 2:
                return True
    return False


def distance(a, b):
    """Levenshtein distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def photo_kind(want, texts, found):
    """None when one of texts (the reads on the plate) is want, else the kind
    of failure. found: whether the plate detector boxed the plate (None:
    not known)."""
    if want in texts:
        return None
    if not texts:
        return "not found" if found is False else "no read"
    got = min(texts, key=lambda t: distance(want, t))
    return misread_kind(want, got)


def calibration(events):
    """events: [(confidence, correct)]. Per threshold: (share of events at or
    above it, accuracy of those), None where there are none."""
    out = {}
    n = len(events)
    for th in (0.9, 0.7):
        above = [ok for c, ok in events if c >= th]
        out[th] = (len(above) / n if n else None, sum(above) / len(above) if above else None)
    return out


READ = re.compile(r"^alpr: read (.*)-> (\S*) format (-?\d+) score (-?[\d.]+)$")


def parse_reads(log_lines):
    """The (raw, repaired) text of every candidate read in a kvs-infer debug
    log (JSON lines; the alpr line lists each character as C0.93/A0.05)."""
    out = []
    for line in log_lines:
        if '"alpr: read ' not in line:
            continue
        try:
            msg = json.loads(line).get("msg", "")
        except ValueError:
            continue
        m = READ.match(msg)
        if not m:
            continue
        raw = "".join(tok[0] for tok in m.group(1).split() if tok)
        out.append((raw, m.group(2)))
    return out


def repair_stats(photos, reads):
    """photos: [(label, final on-plate texts)] of one process; reads: its
    (raw, repaired) candidates. Counts the photos whose final read repair
    produced (`changed`), those of them that are wrong (`changed_wrong`), and
    the photos whose plate some candidate read right before repair changed it
    while the final read is wrong (`broke`)."""
    changed_to = {}
    raw_changed = set()
    for raw, fixed in reads:
        if raw != fixed:
            changed_to.setdefault(fixed, set()).add(raw)
            raw_changed.add(raw)
    st = {"changed": 0, "changed_wrong": 0, "broke": 0}
    for want, texts in photos:
        if any(t in changed_to for t in texts):
            st["changed"] += 1
            if want not in texts:
                st["changed_wrong"] += 1
        if want not in texts and want in raw_changed:
            st["broke"] += 1
    return st


def self_test():
    assert misread_kind("7ABC123", "CALIFORNIA7ABC123") == "slogan/state"
    assert misread_kind("7ABC123", "7ABC1231") == "added at edge"
    assert misread_kind("7ABC123", "ABC123") == "lost at edge"
    assert misread_kind("7ABC123", "7ABC12") == "lost at edge"
    assert misread_kind("7ABC123", "7A8C123") == "confusion"
    assert misread_kind("OBD123", "0B0123") == "confusion"
    assert misread_kind("7ABC123", "7AXC123") == "other"
    assert misread_kind("KEEPLKN", "EEP1KN") == "edge lost + swap"
    assert misread_kind("MPEACHW", "MPE4CH") == "edge lost + swap"
    assert misread_kind("NBYOND", "WBY0NO") == "other"
    assert misread_kind("7ABC123", "") == "other"
    assert photo_kind("ABC123", ["ABC123", "X"], True) is None
    assert photo_kind("ABC123", [], False) == "not found"
    assert photo_kind("ABC123", [], True) == "no read"
    assert photo_kind("ABC123", [], None) == "no read"
    assert photo_kind("ABC123", ["QQQQQQQQ", "ABC12"], True) == "lost at edge"
    cal = calibration([(0.95, True), (0.92, False), (0.8, True), (0.5, False)])
    assert cal[0.9] == (0.5, 0.5) and cal[0.7] == (0.75, 2 / 3)
    assert calibration([])[0.9] == (None, None)
    log = ['{"ts":"t","level":"debug","msg":"alpr: read 70.90/T0.10 A0.99/-0.00 80.50/B0.40 '
           '-> 7AB format 0 score 2.50"}', '{"msg":"other"}', "not json"]
    assert parse_reads(log) == [("7A8", "7AB")]
    st = repair_stats([("7AB", ["7AB"]), ("XY1", ["XYI"]), ("Q12", ["Q1Z"])],
                      [("7A8", "7AB"), ("XY1", "XYI"), ("Q1Z", "Q1Z")])
    assert st == {"changed": 2, "changed_wrong": 1, "broke": 1}, st
    print("alpr_kinds: self-test passed")


if __name__ == "__main__":
    self_test()
