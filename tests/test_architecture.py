"""The house's rules hold: docs/architecture.md's package map matches the tree and the floors, every
module stands on a floor of the import contracts, those contracts catch the breakages they exist for,
no import circle joins two modules, task names stay put, and the site wires both seams."""

import re
import shutil
import subprocess
import sys
import tomllib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import grimp
import pytest

from tests.helpers import ROOT

PACKAGES = ("inbox", "conversations", "customers")
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# Packages that are parts of another's entry in the map, not features of their own.
UNLISTED = {"inbox/management/commands"}


def _map_rows() -> list[tuple[str, str, str]]:
    """(package path, what it owns, its floor) for each row of the map's first table."""
    text = ARCHITECTURE.read_text()
    section = text.split("## The map of packages", 1)[1].split("\n## ", 1)[0]
    table = section.split("Beside the code:", 1)[0]
    rows = []
    for line in table.splitlines():
        match = re.match(r"\| `([^`]+)` \| (.*) \| (.*?) \|$", line)
        if match:
            rows.append((match.group(1).rstrip("/"), match.group(2), match.group(3)))
    return rows


def _tree_packages() -> set[str]:
    found = set()
    for package in PACKAGES:
        for init in (ROOT / package).rglob("__init__.py"):
            path = init.parent.relative_to(ROOT).as_posix()
            if "migrations" not in path.split("/") and path not in UNLISTED:
                found.add(path)
    return found


def test_the_package_map_names_only_what_exists():
    rows = _map_rows()
    assert len(rows) >= 15, "the map's table was not found in docs/architecture.md"
    for package, owns, _ in rows:
        assert (ROOT / package / "__init__.py").is_file(), f"docs/architecture.md maps {package}/, which is no package"
        # The files and folders it names as its own (a bare name like `views.py` or `migrations/`).
        for name in re.findall(r"`([\w]+\.py|[\w]+/)`", owns):
            assert (ROOT / package / name).exists(), f"docs/architecture.md says {package}/ has {name}; it has not"


def test_every_package_of_the_tree_is_on_the_map():
    missing = _tree_packages() - {package for package, _, _ in _map_rows()}
    assert not missing, f"add these packages to the map in docs/architecture.md: {sorted(missing)}"


def test_the_readme_sends_newcomers_to_the_architecture():
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in readme
    assert "shared/DESIGN.md" not in readme, "the design lives in docs/architecture.md now"


def _floors() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "floors"]
    return [re.split(r"\s*[:|]\s*", layer.strip()) for layer in contract["layers"]]


def test_the_map_gives_each_package_the_floor_the_contract_gives_it():
    floors, rows = _floors(), _map_rows()
    listed = {package.replace("/", ".") for package, _, _ in rows}
    for package, _, floor in rows:
        dotted = package.replace("/", ".")
        # Its own floor (the package, or a layer it lies in), and those of its modules that are layers
        # without a row of their own.
        expected = {
            number
            for number, layer in enumerate(floors, start=1)
            for module in layer
            if dotted == module
            or dotted.startswith(module + ".")
            or (module.rpartition(".")[0] == dotted and module not in listed)
        }
        assert {int(n) for n in re.findall(r"\b\d+\b", floor)} == expected, (
            f"docs/architecture.md puts {package}/ on floor(s) {floor!r}; pyproject.toml says {sorted(expected)}"
        )


def test_every_channel_is_kept_apart_from_the_others():
    """A new package under inbox/connectors/ is a channel: it must be in the independence contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "channels"]
    channel_floor = next(layer for layer in _floors() if "inbox.connectors.email" in layer)
    packages = {f"inbox.connectors.{p.parent.name}" for p in (ROOT / "inbox" / "connectors").glob("*/__init__.py")}
    assert set(contract["modules"]) == set(channel_floor) >= packages


def test_every_module_stands_on_a_floor():
    """A new module cannot dodge the layering by sitting outside every layer of the contract."""
    on_floors = [module for layer in _floors() for module in layer]
    # Beside the floors: the site's configuration, which imports nothing of ours a floor could use.
    beside = {"inbox", "inbox.settings", "inbox.celery", "conversations", "customers"}
    graph = grimp.build_graph(*PACKAGES)
    loose = sorted(
        module
        for module in graph.modules
        if module not in beside
        and ".migrations" not in module
        and not any(module == floor or module.startswith(floor + ".") for floor in on_floors)
        # A package holding floors' modules (inbox.connectors, inbox.audit) is only their folder; each
        # of its modules is checked in turn.
        and not any(floor.startswith(module + ".") for floor in on_floors)
    )
    assert not loose, f"put these modules on a floor of the 'floors' contract in pyproject.toml: {loose}"
    for module in ("inbox.settings", "inbox.celery"):
        ours = {m for m in graph.find_modules_directly_imported_by(module) if m.split(".")[0] in PACKAGES}
        assert not ours, f"{module} stands beside the floors only while it imports nothing of ours: {ours}"


def test_no_import_circle_between_any_two_modules():
    graph = grimp.build_graph(*PACKAGES)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        TopologicalSorter(imports).prepare()
    except CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


BREAKAGES = {
    # What each contract is for, as today's code once broke it.
    "floors": ("conversations/ingest.py", "from inbox.workspace import broadcasts  # noqa\n"),
    "channels": ("inbox/connectors/sms/connector.py", "from inbox.connectors.email import providers  # noqa\n"),
    "acyclic": ("conversations/delivery.py", "from conversations import replies  # noqa\n"),
}


@pytest.mark.parametrize("contract", sorted(BREAKAGES))
def test_the_import_contracts_catch_what_they_are_for(tmp_path, contract):
    for name in (*PACKAGES, "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    lint = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    kept = subprocess.run(lint, cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)})
    assert kept.returncode == 0, kept.stdout[-2000:]

    path, line = BREAKAGES[contract]
    module = tmp_path / path
    module.write_text(module.read_text() + line)
    broken = subprocess.run(
        [*lint, "--contract", contract], cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path)}
    )
    assert broken.returncode == 1, broken.stdout[-2000:]
    assert "BROKEN" in broken.stdout


def test_celery_task_names_stay_what_brokers_have_queued():
    """A task's name is what a broker holds; renaming one strands what a running version queued."""
    from django.conf import settings

    from inbox.celery import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if not name.startswith("celery.")}
    assert ours == {
        "conversations.tasks.message_deliver_task",
        "conversations.tasks.inbound_event_process_task",
        "conversations.tasks.sweep_stale_work",
        "conversations.tasks.sla_breaches",
        "conversations.tasks.csat_ask_due",
        "conversations.tasks.report_days",
        "conversations.csat.csat_ask_task",
        "conversations.sla.policies_reapply_task",
        "conversations.tasks.wake_snoozed",
        "conversations.tasks.reroute_offline",
        "inbox.tasks.imap_poll_all",
        "inbox.tasks.imap_poll_task",
    }
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= ours


def test_the_site_wires_both_seams():
    from conversations import listeners
    from inbox.connectors.registry import connector_for_kind
    from inbox.models import Inbox
    from inbox.workspace import broadcasts

    assert broadcasts in listeners.registered(), "the workspace must hear what conversations change"
    for kind in Inbox.Kind.values:
        assert connector_for_kind(kind).kind == kind
