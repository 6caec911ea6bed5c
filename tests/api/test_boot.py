async def test_boot(client, super_user):
    assert super_user.id
