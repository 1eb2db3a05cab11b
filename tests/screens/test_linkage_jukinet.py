"""住基ネット照会 from the proposal form (F8), against ``juki jukinet-sim`` as a real process.

The clerk types the application side, presses F8: the form is saved as a draft first, the
query goes out, the candidates come back masked, and choosing one puts the number on the
draft. When 住基ネット fails (HTTP 500) or is slow (timeout), the service's words are
shown and the draft stays as it was typed. Expected messages come from the service itself
(the same call made again), not copied here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import JukiApp
from console.context import Context
from core.db import Database
from core.settings import Settings
from screens.jukinet_candidates import CANDIDATES_WITHHELD, CandidateDialog
from screens.proposal_form import JUKINET_CHECK, JUKINET_SOURCE, JUKINET_WITHHELD, ProposalForm
from screens.resident import RESTRICTED_MARK
from services.jukinet.client import JukinetUnavailable, query_jukinet
from services.register.mynumber import mask_my_number
from services.restricted import WITHHELD_NOTE
from tests.conftest import JukinetSim
from tests.factories import PASSWORD, screen_user
from tests.screens.drive import SIZE, screen_text, settle, sign_in, type_into
from tests.screens.test_linkage import add_resident, open_record, proposals, staff_identity

APPLICATION = {"name": "鷹司 美咲", "kana": "タカツカサ ミサキ", "birth": "S60.4.1",
               "address": "青葉県若葉市若葉町二丁目3番地5号"}


async def open_form_with_application(pilot: Pilot[Any], code: str) -> ProposalForm:
    """From the record (m), the application side typed, no number: the applicant gave none."""
    await open_record(pilot, code)
    await pilot.press("m")
    await settle(pilot)
    form = pilot.app.screen
    assert isinstance(form, ProposalForm), type(form).__name__
    for key, value in APPLICATION.items():
        await type_into(pilot, f"#app-{key}", value)
    form.query_one("#app-sex").value = "女"  # type: ignore[attr-defined]
    await settle(pilot)
    return form


async def test_a_candidate_is_chosen_and_its_number_goes_on_the_draft(
    settings: Settings, db: Database, jukinet_sim: JukinetSim,
) -> None:
    ctx = Context(settings=settings.with_(jukinet_url=jukinet_sim.url), db=db)
    rid, code = add_resident(db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    add_resident(db, "鷹司", "美咲", "タカツカサ", "ミサキ", birth=date(1990, 1, 2))  # not her
    # Her namesake under DV等支援措置, same birth date and 番地: a candidate too, which the
    # clerk (no DV permission) sees as the marker and the name only, and cannot take.
    add_resident(db, "鷹司", "美咲", "タカツカサ", "ミサキ", dv=True)
    screen_user(db, settings, "clerk1", roles=("clerk",))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        form = await open_form_with_application(pilot, code)
        await pilot.press("f8")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CandidateDialog), (type(dialog).__name__, form.message)
        assert jukinet_sim.stats()["answered"] == 1
        [draft] = proposals(db)  # saved before the query left
        assert (draft.resident_id, draft.status, draft.number) == (rid, "draft", "")
        rows = dialog.table_rows()
        at = {c.withheld: i for i, c in enumerate(dialog.answer.candidates)}
        candidate = dialog.answer.candidates[at[False]]
        row, hidden = rows[at[False]], rows[at[True]]
        assert row[0] == candidate.name and candidate.name.startswith("鷹司")
        assert row[-1] == mask_my_number(candidate.number)
        assert candidate.number not in screen_text(app)
        assert hidden == [f"{RESTRICTED_MARK} {candidate.name}", "", "", "", WITHHELD_NOTE, ""]
        assert dialog.note == CANDIDATES_WITHHELD

        dialog.query_one("#candidates", DataTable).focus()
        for _ in range(at[False]):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form
        [p] = proposals(db)
        assert (p.id, p.status, p.number) == (draft.id, "draft", candidate.number)
        assert (p.source, p.number_check) == (JUKINET_SOURCE, JUKINET_CHECK)
        assert p.app_name == APPLICATION["name"]
        assert mask_my_number(candidate.number) in form.message
        assert candidate.number not in screen_text(app)

        await pilot.press("f9")  # saving again keeps what the query filled in
        await settle(pilot)
        [p] = proposals(db)
        assert (p.number, p.source, p.number_check) == (
            candidate.number, JUKINET_SOURCE, JUKINET_CHECK)

        # Taking the withheld candidate copies nothing (not even a blank): the clerk is
        # told to take the number from the applicant's documents; the draft stays.
        await pilot.press("f8")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CandidateDialog), form.message
        [before] = proposals(db)
        dialog.query_one("#candidates", DataTable).focus()
        for _ in range(at[True]):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is form
        assert form.message == JUKINET_WITHHELD.format(id=p.id)
        [after] = proposals(db)
        assert (after.version, after.number) == (before.version, candidate.number)


@pytest.mark.parametrize("trouble", ["http500", "timeout"])
async def test_a_failing_jukinet_is_worded_and_the_draft_stays(
    settings: Settings, db: Database, start_jukinet_sim: Callable[..., JukinetSim],
    trouble: str,
) -> None:
    sim = start_jukinet_sim()
    if trouble == "http500":
        sim.control(mode="fail")
    else:
        sim.control(mode="slow", delay=5)
    ctx = Context(settings=settings.with_(jukinet_url=sim.url, jukinet_timeout_seconds=0.5),
                  db=db)
    rid, code = add_resident(db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(db, settings, "clerk1", roles=("clerk",))

    app = JukiApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await sign_in(pilot, "clerk1", PASSWORD)
        form = await open_form_with_application(pilot, code)
        await pilot.press("f8")
        await settle(pilot)
        assert app.screen is form
        [p] = proposals(db)
        assert (p.resident_id, p.status, p.number) == (rid, "draft", "")
        assert (p.app_name, p.app_address) == (APPLICATION["name"], APPLICATION["address"])
        assert form.view is not None and form.view.id == p.id  # the form edits the draft now

        ident = staff_identity(ctx, "clerk2", ("clerk",))
        with pytest.raises(JukinetUnavailable) as again:
            query_jukinet(db, ctx.settings, ident, sex="女", proposal_id=p.id,
                          **APPLICATION)
        assert again.value.reason == ("http" if trouble == "http500" else "timeout")
        assert form.message == again.value.message
        [after] = proposals(db)
        assert (after.status, after.version, after.number) == ("draft", p.version, "")
