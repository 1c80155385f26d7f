"""What changed between brief versions."""

from marops_intake.domain.diff import Change, diff


def test_no_change() -> None:
    brief = {"title": "a", "kpis": [{"metric": "m", "target": "1"}], "channels": ["email"]}
    assert diff(brief, brief) == []


def test_fields_added_removed_and_changed_with_paths() -> None:
    before = {"title": "a", "notes": "n", "budget_request": {"amount": {"amount": "10", "currency": "EUR"}},
              "kpis": [{"metric": "m", "target": "1"}], "channels": ["email", "sms"]}
    after = {"title": "b", "links": ["https://x"], "budget_request": {"amount": {"amount": "12", "currency": "EUR"}},
             "kpis": [{"metric": "m", "target": "2"}, {"metric": "n", "target": "3"}], "channels": ["email"]}
    assert diff(before, after) == [
        Change("title", "changed", "a", "b"),
        Change("notes", "removed", "n", None),
        Change("budget_request.amount.amount", "changed", "10", "12"),
        Change("kpis.0.target", "changed", "1", "2"),
        Change("kpis.1", "added", None, {"metric": "n", "target": "3"}),
        Change("channels", "changed", ["email", "sms"], ["email"]),  # plain lists compare whole
        Change("links", "added", None, ["https://x"]),
    ]


def test_diff_from_nothing_shows_what_a_version_introduced() -> None:
    assert diff({}, {"title": "a", "raci": {"responsible": ["r"]}}) == [
        Change("title", "added", None, "a"), Change("raci", "added", None, {"responsible": ["r"]})]
    assert diff({"kpis": [{"metric": "m"}]}, {"kpis": []}) == [Change("kpis", "changed", [{"metric": "m"}], [])]
