"""Each machine's notes: appended by its operator, listed newest first, bounded,
and nobody else's to read or write."""

from __future__ import annotations

from helpers import API, add_machine


async def post_note(client, actor, machine_id, body):
    client.cookies.clear()
    return await client.post(
        f"{API}/machines/{machine_id}/notes", json=body, headers=actor.headers
    )


async def notes(client, actor, machine_id, query=""):
    client.cookies.clear()
    return await client.get(
        f"{API}/machines/{machine_id}/notes{query}", headers=actor.headers
    )


async def test_notes_are_appended_and_listed_newest_first(client, operator):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    first = await post_note(
        client, operator, machine["id"], {"text": "  refilled, jammed bill in 2  "}
    )
    assert first.status_code == 201, first.text
    note = first.json()
    assert note["text"] == "refilled, jammed bill in 2"
    assert note["author"] == operator.username and note["created_at"] > 0
    second = await post_note(client, operator, machine["id"], {"text": "cleaned"})
    assert second.status_code == 201, second.text

    listed = (await notes(client, operator, machine["id"])).json()
    assert [n["text"] for n in listed] == ["cleaned", "refilled, jammed bill in 2"]
    limited = (await notes(client, operator, machine["id"], "?limit=1")).json()
    assert [n["text"] for n in limited] == ["cleaned"]
    bad_limit = await notes(client, operator, machine["id"], "?limit=100000")
    assert bad_limit.status_code == 400


async def test_a_note_is_bounded_and_not_blank(client, operator):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    longest = await post_note(client, operator, machine["id"], {"text": "x" * 2000})
    assert longest.status_code == 201, longest.text
    for body, why in (
        ({"text": "x" * 2001}, "at most 2000"),
        ({"text": "   "}, "needs some text"),
        ({"text": 5}, "str"),
        ({}, "field required"),
    ):
        refused = await post_note(client, operator, machine["id"], body)
        assert refused.status_code == 400, refused.text
        assert why in refused.text
    assert len((await notes(client, operator, machine["id"])).json()) == 1


async def test_another_operators_machine_has_no_notes_to_give(
    client, operator, make_user
):
    machine = await add_machine(client, operator, fiat_code="GTQ")
    await post_note(client, operator, machine["id"], {"text": "mine"})
    other = await make_user("other")
    written = await post_note(client, other, machine["id"], {"text": "theirs"})
    assert written.status_code == 404, written.text
    assert "no machine" in written.json()["detail"]
    read = await notes(client, other, machine["id"])
    assert read.status_code == 404, read.text
    assert [
        n["text"] for n in (await notes(client, operator, machine["id"])).json()
    ] == ["mine"]
