"""Every migration set numbers its files once: two branches that each add `012_…` both apply
(versions are file stems) but in an order nobody chose, so a clash is refused here."""
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Shipped before this check: renaming an applied migration would apply it again, so these stay.
SHIPPED_CLASHES = {"services/intake/marops_intake/migrations": {"006"}}


def migration_directories() -> list[Path]:
    return sorted({p.parent for p in ROOT.glob("*/*/*/migrations/*.sql")} |
                  {p.parent for p in ROOT.glob("*/*/migrations/*.sql")})


def test_there_are_migration_sets_to_check():
    names = {d.parent.name for d in migration_directories()}
    assert {"marops_intake", "marops_governance", "marops_budget", "marops_metrics"} <= names, names


def test_no_two_migrations_of_a_set_share_a_number():
    for directory in migration_directories():
        numbers = Counter(p.name.split("_", 1)[0] for p in directory.glob("*.sql"))
        shipped = SHIPPED_CLASHES.get(str(directory.relative_to(ROOT)), set())
        clashes = sorted(n for n, count in numbers.items() if count > 1 and n not in shipped)
        assert not clashes, f"{directory.relative_to(ROOT)}: migrations numbered {clashes} more than once"
