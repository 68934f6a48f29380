"""A laptop joins a team whose history is bigger than one answer of the relay.

Amara's vault holds 4,000 cases (about 11 MiB of items) before she adds bea. Bea's first
sync must find her welcome: it is the first item the relay holds for her, ahead of the
team items amara's same sync sends (the relay answers at most 8 MiB a fetch, and a laptop
that has just joined cannot open, so cannot acknowledge, team items before its welcome).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, seal_for
from tests.intake_server import IntakeServers
from tests.team_laptops import every_case, join
from vault import incoming
from vault.intake.inbox import Inbox
from vault.store import Vault
from vault.sync import sync

pytestmark = pytest.mark.slow

CASES = 4_000


def test_a_history_bigger_than_one_relay_answer_reaches_a_new_laptop(
    intake_servers: IntakeServers, tmp_path: Path
) -> None:
    with Vault.create(tmp_path / "a", "amara", PASSPHRASE) as amara:
        envelope = seal_for(amara)
        sealed = [("r", envelope)] + [(f"r{i}", seal_for(amara)) for i in range(CASES - 1)]
        assert len(incoming.import_envelopes(amara, sealed).imported) == CASES
        intake = intake_servers.start(amara.team_key_export())
        bea = join(tmp_path / "b", "bea", amara, intake.url)
        try:
            assert every_case(bea) == every_case(amara)
            sync(amara, intake.url)
            sync(bea, intake.url)
        finally:
            bea.close()
    assert intake.stop() == 0
    with Inbox.open(intake.data) as relay:
        assert relay.relay_count() == 0
