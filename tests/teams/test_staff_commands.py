"""`add_staff` and `add_customer`: operators create people from the command line."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from accounts.models import CustomerProfile
from accounts.roles import MANAGERS_GROUP, Role, user_role
from teams.models import TeamMembership
from teams.services import AGENTS_GROUP, support_structure_setup

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a-long-enough-secret"


@pytest.fixture(autouse=True)
def structure():
    support_structure_setup()


def command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def teams_of(user) -> set[str]:
    return set(TeamMembership.objects.filter(user=user).values_list("team__slug", flat=True))


def groups_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


# --- add_staff --------------------------------------------------------------------------------


def test_add_staff_creates_an_agent_in_the_given_teams():
    output = command(
        "add_staff", "anna", "--password", PASSWORD, "--team", "support", "--team", "billing"
    )

    anna = User.objects.get(username="anna")
    assert anna.is_staff and not anna.is_superuser
    assert anna.check_password(PASSWORD)
    assert teams_of(anna) == {"support", "billing"}
    assert groups_of(anna) == {AGENTS_GROUP}
    assert user_role(anna) == Role.AGENT
    assert output == "Created agent anna in support, billing.\n"


def test_an_agent_may_work_tickets_and_read_teams_but_not_edit_them():
    command("add_staff", "anna", "--password", PASSWORD, "--team", "support")
    anna = User.objects.get(username="anna")

    for perm in (
        "tickets.view_ticket",
        "tickets.change_ticket",
        "tickets.view_message",
        "tickets.change_message",
        "tickets.view_attachment",
        "teams.view_team",
        "teams.view_workinghours",
    ):
        assert anna.has_perm(perm), perm
    for perm in ("teams.change_team", "teams.add_holiday", "tickets.delete_ticket"):
        assert not anna.has_perm(perm), perm


def test_add_staff_manager_joins_managers_and_may_edit_the_structure():
    output = command(
        "add_staff", "max", "--password", PASSWORD, "--team", "management", "--manager"
    )

    max_ = User.objects.get(username="max")
    assert groups_of(max_) == {AGENTS_GROUP, MANAGERS_GROUP}
    assert user_role(max_) == Role.MANAGER
    for perm in (
        "teams.change_team",
        "teams.add_workinghours",
        "teams.delete_holiday",
        "teams.change_teammembership",
        "tickets.view_ticket",
    ):
        assert max_.has_perm(perm), perm
    assert not max_.has_perm("teams.delete_team")
    assert output == "Created manager max in management.\n"


def test_add_staff_again_sets_teams_and_manager_exactly_and_keeps_other_groups():
    command("add_staff", "anna", "--password", PASSWORD, "--team", "support", "--manager")
    anna = User.objects.get(username="anna")
    kept = TeamMembership.objects.get(user=anna, team__slug="support")
    anna.groups.add(Group.objects.create(name="night-shift"))

    output = command(
        "add_staff",
        "anna",
        "--password",
        "another-secret-9",
        "--team",
        "sysadmin",
        "--team",
        "support",
    )

    anna.refresh_from_db()
    assert teams_of(anna) == {"sysadmin", "support"}
    assert TeamMembership.objects.get(user=anna, team__slug="support").pk == kept.pk
    assert groups_of(anna) == {AGENTS_GROUP, "night-shift"}
    assert anna.check_password("another-secret-9")
    assert User.objects.filter(username="anna").count() == 1
    assert output == "Updated agent anna in sysadmin, support.\n"


def test_add_staff_keeps_a_superuser_a_superuser():
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    command("add_staff", "root", "--password", PASSWORD, "--team", "support")
    root = User.objects.get(username="root")
    assert root.is_superuser and root.is_staff


def test_add_staff_with_an_unknown_team_fails_clearly_and_writes_nothing():
    with pytest.raises(CommandError, match=r"Unknown team nope \(known teams: billing, "):
        command("add_staff", "anna", "--password", PASSWORD, "--team", "support", "--team", "nope")
    assert not User.objects.filter(username="anna").exists()


def test_add_staff_needs_a_team_and_a_password():
    with pytest.raises(CommandError, match="--team"):
        command("add_staff", "anna", "--password", PASSWORD)
    with pytest.raises(CommandError, match="--password"):
        command("add_staff", "anna", "--team", "support")


# --- add_customer -----------------------------------------------------------------------------


def test_add_customer_creates_a_customer_with_a_profile():
    output = command(
        "add_customer",
        "carla",
        "--password",
        PASSWORD,
        "--email",
        "carla@example.com",
        "--language",
        "it",
    )

    carla = User.objects.get(username="carla")
    assert not carla.is_staff
    assert carla.email == "carla@example.com"
    assert carla.check_password(PASSWORD)
    assert CustomerProfile.objects.get(user=carla).language == "it"
    assert user_role(carla) == Role.CUSTOMER
    assert output == "Created customer carla <carla@example.com>, language it.\n"


def test_add_customer_again_updates_the_same_account():
    command("add_customer", "carla", "--password", PASSWORD, "--email", "carla@example.com")
    output = command(
        "add_customer",
        "carla",
        "--password",
        PASSWORD,
        "--email",
        "c@example.org",
        "--language",
        "it",
    )

    carla = User.objects.get(username="carla")
    assert carla.email == "c@example.org"
    assert CustomerProfile.objects.get(user=carla).language == "it"
    assert User.objects.filter(username="carla").count() == 1
    assert output.startswith("Updated customer carla")


def test_add_customer_defaults_to_english():
    command("add_customer", "dan", "--password", PASSWORD, "--email", "dan@example.com")
    assert CustomerProfile.objects.get(user__username="dan").language == "en"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--password", PASSWORD, "--email", "not-an-address"], "not an email address"),
        (
            ["--password", PASSWORD, "--email", "e@example.com", "--language", "fr"],
            "invalid choice",
        ),
        (["--password", PASSWORD], "--email"),
        (["--email", "e@example.com"], "--password"),
    ],
)
def test_add_customer_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        command("add_customer", "erin", *args)
    assert not User.objects.filter(username="erin").exists()


def test_add_customer_does_not_turn_staff_into_a_customer():
    command("add_staff", "anna", "--password", PASSWORD, "--team", "support")
    with pytest.raises(CommandError, match="anna is a staff account"):
        command("add_customer", "anna", "--password", PASSWORD, "--email", "anna@example.com")
    assert User.objects.get(username="anna").is_staff
