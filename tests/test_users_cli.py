"""`cocon users …` and the demo accounts: the server operator's side of signing in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cocon import db
from cocon.demo import DEMO_PASSWORD, demo_usernames
from cocon.user_models import User
from cocon.users import Client, SignInRefused, sign_in

PASSWORD = "a long enough passphrase"


def user(url: str, username: str) -> User | None:
    """Return the stored user called username."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            return session.execute(select(User).where(User.username == username)).scalar()
    finally:
        engine.dispose()


def signs_in(url: str, username: str, password: str) -> bool:
    """Tell whether username and password sign in now."""
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine, write=True) as session:
            sign_in(session, Client(username, "127.0.0.1"), password)
        return True
    except SignInRefused:
        return False
    finally:
        engine.dispose()


@pytest.fixture
def tree(cli):
    """Load the demo's org tree (and accounts) to give users an org."""
    cli.ok("demo")
    return cli


def test_users_add_from_stdin_then_sign_in(tree, database_url):
    output = tree.ok(
        "users", "add", "Fin.Zhang", "--role", "finance", "--org", "文晖街道",
        "--name", "张会计", "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    assert "Added fin.zhang: finance at 文晖街道 (330105017)" in output
    stored = user(database_url, "fin.zhang")
    assert stored.display_name == "张会计" and stored.role == "finance"
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    assert signs_in(database_url, "FIN.ZHANG", PASSWORD)


def test_users_add_asks_for_the_password_twice(tree, database_url):
    tree.ok("users", "add", "viewer1", "--role", "viewer", "--org", "330105",
            input=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    assert signs_in(database_url, "viewer1", PASSWORD)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 10 characters"),
        ("password123", "too common"),
        ("1234567890", "too common"),
        ("qwertyuiop", "too common"),
    ],
)
def test_users_add_refuses_weak_passwords(tree, database_url, password, message):
    result = tree("users", "add", "weak", "--role", "viewer", "--org", "330105",
                  "--password-stdin", input=password + "\n")  # fmt: skip
    assert result.exit_code == 1 and message in result.stderr
    assert user(database_url, "weak") is None


def test_users_add_refuses_a_taken_name_and_an_unknown_org(tree):
    taken = tree("users", "add", "gongshu-admin", "--role", "viewer", "--org", "330105",
                 "--password-stdin", input=PASSWORD + "\n")  # fmt: skip
    assert taken.exit_code == 1 and "This username cannot be used" in taken.stderr
    unknown = tree("users", "add", "new1", "--role", "viewer", "--org", "999999",
                   "--password-stdin", input=PASSWORD + "\n")  # fmt: skip
    assert unknown.exit_code == 1


def test_users_disable_enable_set_password_and_set_role(tree, database_url):
    tree.ok("users", "add", "office1", "--role", "office", "--org", "330105",
            "--password-stdin", input=PASSWORD + "\n")  # fmt: skip
    epoch = user(database_url, "office1").session_epoch
    tree.ok("users", "disable", "office1")
    assert not signs_in(database_url, "office1", PASSWORD)
    assert user(database_url, "office1").session_epoch == epoch + 1  # its sessions end
    tree.ok("users", "enable", "office1")
    assert signs_in(database_url, "office1", PASSWORD)
    tree.ok("users", "set-password", "office1", "--password-stdin", input="another long one\n")
    assert not signs_in(database_url, "office1", PASSWORD)
    assert signs_in(database_url, "office1", "another long one")
    output = tree.ok("users", "set-role", "office1", "viewer", "--org", "330105017003")
    assert "office1 is now read only" in output
    stored = user(database_url, "office1")
    assert stored.role == "viewer" and stored.session_epoch == epoch + 4  # each change ends them
    listed = tree.ok("users", "list")
    assert "office1\toffice1\tread only\t胜利社区 (330105017003)\tactive" in listed


def test_users_commands_name_an_unknown_user(tree):
    result = tree("users", "disable", "nobody")
    assert result.exit_code == 1 and "No user is called nobody" in result.stderr


def test_demo_prints_its_accounts_with_a_warning(cli, database_url):
    output = cli.ok("demo")
    assert f"password for all: {DEMO_PASSWORD}" in output
    for username, _role, code in demo_usernames():
        assert f"  {username}\t" in output and code in output
        assert signs_in(database_url, username, DEMO_PASSWORD)
    assert "for the demo only" in output
    assert len(demo_usernames()) == 12


def test_demo_again_keeps_a_changed_demo_password(cli, database_url):
    cli.ok("demo")
    cli.ok("users", "set-password", "gongshu-admin", "--password-stdin", input=PASSWORD + "\n")
    cli.ok("demo")
    assert signs_in(database_url, "gongshu-admin", PASSWORD)
