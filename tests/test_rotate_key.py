"""`flask --app wsgi rotate-key`: a new encryption key, every stored secret and token re-encrypted
with it, running workers unaffected, and the old keys removed only when asked."""

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import event, update

from oroflask import create_app
from oroflask.connection.models import SITE, MicrosoftGrant
from oroflask.connection.service import site_grant
from oroflask.database import utcnow
from oroflask.encryption import decrypt, encrypt
from oroflask.extensions import db
from oroflask.settings.models import MicrosoftSettings

from .conftest import CLIENT_SECRET, SETTINGS_PAGE, live_save

ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access.token"
REFRESH_TOKEN = "0.AVYA-refresh-token-value"
NEW_SECRET = "Zt5~a.completely-different_secret.value.000"
UNDECRYPTABLE = "The saved secret cannot be decrypted with the configured encryption keys"

# The keys of these tests come from instance/encryption.keys, generated at start, as in production.
keys_in_the_instance_folder = pytest.mark.app_config(ENCRYPTION_KEYS="")


def store_connection(app) -> None:
    with app.app_context():
        db.session.add(
            MicrosoftGrant(
                purpose=SITE,
                account="adele@contoso.onmicrosoft.com",
                client_id="0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
                tenant="contoso.onmicrosoft.com",
                tenant_id="6babcaad-604b-40ac-a9d7-9fd97c0b779f",
                scopes="openid offline_access",
                access_token_encrypted=encrypt(ACCESS_TOKEN),
                refresh_token_encrypted=encrypt(REFRESH_TOKEN),
                access_token_expires_at=utcnow() + timedelta(hours=1),
            )
        )
        db.session.commit()


def stored_ciphertexts(app) -> list[str]:
    """Return every encrypted value stored: the client secret, the access and refresh tokens."""
    with app.app_context():
        settings = db.session.get(MicrosoftSettings, 1)
        connection = site_grant()
        return [
            settings.client_secret_encrypted,
            connection.access_token_encrypted,
            connection.refresh_token_encrypted,
        ]


def decrypts_with(key: str, ciphertext: str) -> bool:
    try:
        Fernet(key).decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def keys_in_file(config) -> list[str]:
    return (Path(config["INSTANCE_PATH"]) / "encryption.keys").read_text().split()


@pytest.fixture
def stored(admin_client, app):
    """Save a client secret through the page and store a connection's tokens."""
    assert live_save(admin_client, "client_secret", CLIENT_SECRET).status_code == 200
    store_connection(app)
    return admin_client


def settings_page(client) -> str:
    response = client.get(SETTINGS_PAGE)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@keys_in_the_instance_folder
def test_rotate_key_adds_a_first_key_and_reencrypts_everything(stored, app, config, runner):
    [old_key] = keys_in_file(config)
    before = stored_ciphertexts(app)

    result = runner.invoke(args=["rotate-key"])

    assert result.exit_code == 0, result.output
    assert "Re-encrypted 3 stored secret(s) and token(s) with the first key." in result.output
    assert "rotate-key --drop-old" in result.output
    new_key, kept = keys_in_file(config)
    assert kept == old_key and new_key != old_key
    after = stored_ciphertexts(app)
    for ciphertext in after:
        assert ciphertext not in before
        assert decrypts_with(new_key, ciphertext) and not decrypts_with(old_key, ciphertext)
    with app.app_context():
        assert decrypt(after[1]) == ACCESS_TOKEN and decrypt(after[2]) == REFRESH_TOKEN
    # The running application, started before the rotation, still reads what is stored.
    assert UNDECRYPTABLE not in settings_page(stored)


@keys_in_the_instance_folder
def test_workers_started_before_the_rotation_need_no_restart(stored, app, config, runner):
    other_worker = create_app(config)
    assert runner.invoke(args=["rotate-key"]).exit_code == 0
    new_key = keys_in_file(config)[0]

    # A secret saved after the rotation is encrypted with the new key, and read by every worker.
    live_save(stored, "client_secret", NEW_SECRET)
    ciphertext = stored_ciphertexts(app)[0]
    assert decrypts_with(new_key, ciphertext)
    with other_worker.app_context():
        assert decrypt(ciphertext) == NEW_SECRET


@keys_in_the_instance_folder
def test_drop_old_keeps_only_the_first_key(stored, app, config, runner):
    assert runner.invoke(args=["rotate-key"]).exit_code == 0
    new_key, old_key = keys_in_file(config)

    result = runner.invoke(args=["rotate-key", "--drop-old"])

    assert result.exit_code == 0, result.output
    assert "Removed 1 old key(s)" in result.output
    assert keys_in_file(config) == [new_key]
    for ciphertext in stored_ciphertexts(app):
        assert decrypts_with(new_key, ciphertext)
    assert UNDECRYPTABLE not in settings_page(stored)
    assert "nothing to remove" in runner.invoke(args=["rotate-key", "--drop-old"]).output


def test_configured_keys_are_printed_not_changed(stored, app, config, runner):
    before = stored_ciphertexts(app)

    result = runner.invoke(args=["rotate-key"])

    assert result.exit_code == 0, result.output
    assert "cannot change: nothing was changed" in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("OROFLASK_ENCRYPTION_KEYS=")]
    new_key, old_key = line.removeprefix("OROFLASK_ENCRYPTION_KEYS=").split(",")
    assert old_key == config["ENCRYPTION_KEYS"] and Fernet(new_key)
    assert stored_ciphertexts(app) == before
    assert app.config["ENCRYPTION_KEYS"] == config["ENCRYPTION_KEYS"]
    assert not (Path(config["INSTANCE_PATH"]) / "encryption.keys").exists()

    # The administrator sets the printed value and restarts; then re-encrypts, then drops the old key.
    app.config["ENCRYPTION_KEYS"] = f"{new_key},{old_key}"
    result = runner.invoke(args=["rotate-key", "--reencrypt"])
    assert "Re-encrypted 3 stored secret(s) and token(s)" in result.output
    for ciphertext in stored_ciphertexts(app):
        assert decrypts_with(new_key, ciphertext)
    result = runner.invoke(args=["rotate-key", "--drop-old"])
    assert f"OROFLASK_ENCRYPTION_KEYS={new_key}\n" in result.output


def test_the_environment_variable_is_named_when_keys_come_from_it(app, config, runner, monkeypatch):
    monkeypatch.setenv("OROFLASK_ENCRYPTION_KEYS", config["ENCRYPTION_KEYS"])
    result = runner.invoke(args=["rotate-key"])
    assert "The encryption keys come from OROFLASK_ENCRYPTION_KEYS, which this command cannot change" in result.output


@keys_in_the_instance_folder
def test_a_value_no_key_can_read_is_left_and_reported(stored, app, config, runner):
    lost = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    with app.app_context():
        db.session.execute(update(MicrosoftGrant).values(access_token_encrypted=lost))
        db.session.commit()

    result = runner.invoke(args=["rotate-key"])

    assert result.exit_code == 0
    assert "Re-encrypted 2 stored secret(s) and token(s)" in result.output
    assert "Warning: 1 stored value(s) cannot be decrypted with any configured key" in result.output
    assert stored_ciphertexts(app)[1] == lost


@keys_in_the_instance_folder
def test_a_token_refreshed_during_the_rotation_is_not_overwritten(stored, app, runner):
    """A worker stores refreshed tokens between the command's reading them and its writing."""
    with app.app_context():
        engine = db.engine
        # SQLite lets no other writer in once the command has written anything: without a saved
        # secret (re-encrypted before the grants' tokens), the tokens are the first values written.
        db.session.execute(update(MicrosoftSettings).values(client_secret_encrypted=None))
        db.session.commit()
    refreshed = []

    def worker_refreshes(connection, cursor, statement, *args):
        if not refreshed and statement.startswith("UPDATE microsoft_grant SET access_token_encrypted"):
            refreshed.append(True)
            with app.app_context(), engine.begin() as other:
                other.execute(
                    update(MicrosoftGrant).values(
                        access_token_encrypted=encrypt("refreshed access token"),
                        refresh_token_encrypted=encrypt("refreshed refresh token"),
                    )
                )

    event.listen(engine, "before_cursor_execute", worker_refreshes)
    try:
        result = runner.invoke(args=["rotate-key"])
    finally:
        event.remove(engine, "before_cursor_execute", worker_refreshes)
    assert result.exit_code == 0, result.output
    assert refreshed
    with app.app_context():
        access, refresh = stored_ciphertexts(app)[1:]
        assert decrypt(access) == "refreshed access token"
        assert decrypt(refresh) == "refreshed refresh token"


@keys_in_the_instance_folder
def test_a_keys_file_half_written_by_hand_is_not_taken(stored, app, config):
    keys_file = Path(config["INSTANCE_PATH"]) / "encryption.keys"
    [old_key] = keys_file.read_text().split()
    for unfinished in ("", old_key[:20]):
        keys_file.write_text(unfinished)
        assert UNDECRYPTABLE not in settings_page(stored)
    new_key = Fernet.generate_key().decode()
    keys_file.write_text(f"{new_key}\n{old_key}\n")
    assert UNDECRYPTABLE not in settings_page(stored)
    live_save(stored, "client_secret", NEW_SECRET)
    assert decrypts_with(new_key, stored_ciphertexts(app)[0])
