"""Every action the audit log records has a translated label on /admin/audit: the actions are found in the
code (each call that writes or builds an audit row names its action as a literal), so a new one without a
label fails here instead of showing its raw code to an admin."""

from __future__ import annotations

import ast
from pathlib import Path

from hub.runtime import Hub
from hub.settings import ROOT
from hub.web.ui import i18n
from tests.hub.web.conftest import Client, Person, login

# inbox.audit.record, hub.web.audit_trail.record_action, and AuditLog rows built in place.
WRITERS = {"record", "record_action", "AuditLog"}


def _literals(node: ast.AST) -> set[str]:
    """String constants of `node` (``"a" if x else "b"`` gives both)."""
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def recorded_actions() -> set[str]:
    actions: set[str] = set()
    for package in ("hub", "inbox"):
        for path in Path(ROOT, package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name not in WRITERS:
                    continue
                given = [k.value for k in node.keywords if k.arg == "action"]
                position = (
                    1 if name == "record" else 3
                )  # record(session, action …), record_action(r, s, p, action …)
                if len(node.args) > position:
                    given.append(node.args[position])
                for value in given:
                    if isinstance(value, ast.Name):  # a variable: the literals assigned to it in this module
                        for assign in ast.walk(tree):
                            if isinstance(assign, ast.Assign) and any(
                                isinstance(t, ast.Name) and t.id == value.id for t in assign.targets
                            ):
                                actions |= _literals(assign.value)
                    else:
                        actions |= _literals(value)
    return {a for a in actions if a.replace(".", "").replace("_", "").isalpha()}


def test_every_recorded_action_has_a_label() -> None:
    found = recorded_actions() | {"login"}  # LOGIN is a constant of inbox.audit
    assert {"agent.create", "conversation.assign", "contact.merge"} <= found  # the scan finds them
    missing = found - set(i18n.AUDIT_ACTIONS)
    assert not missing, f"give these a label in hub/web/ui/i18n.py AUDIT_ACTIONS: {sorted(missing)}"
    for lang in i18n.LANGUAGES:
        texts = i18n.Texts(lang)
        labels = {texts.label(i18n.AUDIT_ACTIONS, action) for action in found}
        assert not labels & found  # no raw code shown


async def test_the_audit_page_shows_labels_not_codes(client: Client, hub: Hub, admin: Person) -> None:
    await client.post("/api/v1/teams", json={"name": "Support"}, headers=admin.headers)
    await login(client, admin.email)
    russian = await (await client.get("/admin/audit?lang=ru")).text()
    assert "Создана команда" in russian and ">team.create<" not in russian
    assert '<option value="conversation.assign" >Диалог назначен</option>' in russian
    english = await (await client.get("/admin/audit?lang=en")).text()
    assert "Team created" in english and "Conversation status changed" in english
