"""Community profiles and the integrated-large-community-unit standard."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocon.models import CommunityProfile
from cocon.profiles import qualify
from tests.conftest import snapshot
from tests.orgtree import load_tree, refused

COMMUNITY = "330105017003"


def _profile(households: int | None, residents: int | None, floating: int | None):
    return CommunityProfile(
        org_id=1,
        households=households,
        permanent_residents=residents,
        floating_residents=floating,
    )


def _set(cli, households: str, residents: str, floating: str, **kwargs) -> str:
    return cli.ok(
        "orgs",
        "profile",
        COMMUNITY,
        "--households",
        households,
        "--residents",
        residents,
        "--floating",
        floating,
        **kwargs,
    )


# --- the rule, through qualify() ----------------------------------------------------------------


def test_qualify_3000_households_qualifies():
    assert qualify(_profile(3000, 5000, 1500)).qualifies


def test_qualify_2999_households_does_not_qualify():
    assert not qualify(_profile(2999, 5000, 1500)).qualifies


def test_qualify_10000_residents_does_not_qualify():
    assert not qualify(_profile(0, 10_000, 5000)).qualifies


def test_qualify_10001_residents_qualifies():
    assert qualify(_profile(0, 10_001, 5000)).qualifies


def test_qualify_floating_share_exactly_30_percent_qualifies():
    result = qualify(_profile(3000, 10_000, 3000))
    assert result.qualifies
    assert result.floating_share == Decimal("0.3")


def test_qualify_floating_share_29_9_percent_does_not_qualify():
    assert not qualify(_profile(3000, 10_000, 2990)).qualifies


def test_qualify_custom_threshold_applies():
    assert qualify(_profile(3000, 10_000, 2500), Decimal("0.25")).qualifies
    assert not qualify(_profile(3000, 10_000, 2499), Decimal("0.25")).qualifies


def test_qualify_without_profile_does_not_qualify():
    result = qualify(None)
    assert not result.qualifies
    assert result.reasons == ["no resident figures yet"]


def test_qualify_without_residents_does_not_qualify():
    assert not qualify(_profile(5000, None, 3000)).qualifies


def test_qualify_reasons_name_size_and_share():
    result = qualify(_profile(3000, 5000, 1500))
    assert result.reasons == ["3,000 households ≥ 3,000", "floating share 30.0% ≥ 30%"]


def test_qualify_reasons_when_too_small():
    result = qualify(_profile(2999, 10_000, 5000))
    assert result.reasons[0] == "2,999 households < 3,000 and 10,000 permanent residents ≤ 10,000"


def test_qualify_reason_never_rounds_a_share_up_to_the_threshold():
    # 1499 / 5000 = 29.98%: the reason must not read "30.0% < 30%" (nor truncate to 29.9%).
    result = qualify(_profile(3000, 5000, 1499))
    assert not result.qualifies
    assert result.reasons[1] == "floating share 29.98% < 30%"
    assert result.share_shown == "29.98%"  # the pages show it as the reason words it


def test_qualify_share_rounds_half_up():
    # 胜利社区: 3,470 of 9,860 is 35.19…%, which reads 35.2%.
    result = qualify(_profile(3912, 9860, 3470))
    assert result.share_shown == "35.2%"
    assert result.reasons[1] == "floating share 35.2% ≥ 30%"


counts = st.integers(min_value=0, max_value=200_000)


@given(
    households=st.none() | counts,
    residents=st.integers(min_value=1, max_value=200_000),
    floating=st.none() | counts,
    permille=st.integers(min_value=0, max_value=1000),
)
def test_qualify_agrees_with_the_rule_for_random_figures(households, residents, floating, permille):
    large = (households or 0) >= 3000 or residents > 10_000
    high_share = (floating or 0) * 1000 >= permille * residents
    threshold = Decimal(permille) / 1000
    profile = _profile(households, residents, floating)
    assert qualify(profile, threshold).qualifies == (large and high_share)


@given(households=st.none() | counts, floating=st.none() | counts)
def test_qualify_without_residents_never_qualifies(households, floating):
    assert not qualify(_profile(households, None, floating)).qualifies


# --- the CLI ------------------------------------------------------------------------------------


def test_profile_3000_households_qualifies(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = _set(cli, "3000", "5000", "1500")
    assert "Integrated large community unit: qualifies" in out
    assert "3,000 households ≥ 3,000" in out
    assert "floating share 30.0% ≥ 30%" in out


def test_profile_2999_households_does_not_qualify(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = _set(cli, "2999", "5000", "1500")
    assert "Integrated large community unit: does not qualify" in out
    assert "2,999 households < 3,000 and 5,000 permanent residents ≤ 10,000" in out


def test_profile_10000_residents_does_not_qualify(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = _set(cli, "2000", "10000", "5000")
    assert "does not qualify" in out
    assert "10,000 permanent residents ≤ 10,000" in out


def test_profile_10001_residents_qualifies(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = _set(cli, "2000", "10001", "5000")
    assert "Integrated large community unit: qualifies" in out
    assert "10,001 permanent residents > 10,000" in out


def test_profile_floating_share_exactly_30_percent_qualifies(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = _set(cli, "3000", "10000", "3000")
    assert "Integrated large community unit: qualifies" in out
    assert "floating share 30.0% ≥ 30%" in out


def test_profile_floating_share_29_9_percent_does_not_qualify(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = _set(cli, "3000", "10000", "2990")
    assert "does not qualify" in out
    assert "floating share 29.9% < 30%" in out


def test_profile_threshold_from_environment(cli, tmp_path):
    load_tree(cli, tmp_path)
    env = {"COCON_FLOATING_SHARE_THRESHOLD": "0.25"}
    out = _set(cli, "3000", "10000", "2500", env=env)
    assert "Integrated large community unit: qualifies" in out
    assert "floating share 25.0% ≥ 25%" in out


def test_show_uses_threshold_from_environment(cli, tmp_path):
    load_tree(cli, tmp_path)
    _set(cli, "3000", "10000", "2990")
    assert "does not qualify" in cli.ok("orgs", "show", COMMUNITY)
    strict = cli.ok("orgs", "show", COMMUNITY, env={"COCON_FLOATING_SHARE_THRESHOLD": "0.2"})
    assert "Integrated large community unit: qualifies" in strict
    assert "floating share 29.9% ≥ 20%" in strict


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1"])
def test_profile_bad_threshold_in_environment_refused(cli, tmp_path, value):
    load_tree(cli, tmp_path)
    result = cli("orgs", "show", COMMUNITY, env={"COCON_FLOATING_SHARE_THRESHOLD": value})
    assert result.exit_code != 0
    assert "COCON_FLOATING_SHARE_THRESHOLD" in result.stderr


def test_show_prints_the_profile(cli, tmp_path):
    load_tree(cli, tmp_path)
    _set(cli, "3200", "12000", "4000")
    cli.ok("orgs", "profile", COMMUNITY, "--type", "商住融合型")
    out = cli.ok("orgs", "show", COMMUNITY)
    assert "Households: 3,200" in out
    assert "Permanent residents: 12,000" in out
    assert "Renting/floating residents: 4,000" in out
    assert "Unit type: business and residential mix" in out
    assert "Integrated large community unit: qualifies" in out


def test_show_community_without_profile_says_none(cli, tmp_path):
    load_tree(cli, tmp_path)
    assert "Profile: none yet" in cli.ok("orgs", "show", COMMUNITY)


def test_profile_options_left_out_keep_their_value(cli, tmp_path):
    load_tree(cli, tmp_path)
    _set(cli, "3000", "5000", "1500")
    out = cli.ok("orgs", "profile", COMMUNITY, "--floating", "1000")
    assert "Households: 3,000" in out
    assert "Permanent residents: 5,000" in out
    assert "Renting/floating residents: 1,000" in out
    assert "does not qualify" in out


def test_profile_by_community_name(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "profile", "胜利社区", "--households", "3000")
    assert "胜利社区 (330105017003, community)" in out


def test_profile_counts_with_thousands_separators_accepted(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = _set(cli, "3,200", "12,000", "4,000")
    assert "Households: 3,200" in out
    assert "Permanent residents: 12,000" in out


def test_profile_unit_type_by_chinese_name(cli, tmp_path):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "profile", COMMUNITY, "--type", "商住融合型")
    assert "Unit type: business and residential mix" in out


@pytest.mark.parametrize(
    ("given_type", "shown"),
    [
        ("relocation_flow", "relocation and floating population"),
        ("business_integration", "business and residential mix"),
        ("business-integration", "business and residential mix"),  # as older workbooks wrote it
        ("traditional_integration", "traditional integration"),
        ("whole_village_reform", "whole-village redevelopment"),
        ("拆迁安置流动型", "relocation and floating population"),
        ("传统融合型", "traditional integration"),
        ("整村改造型", "whole-village redevelopment"),
    ],
)
def test_profile_unit_type_by_key_or_name(cli, tmp_path, given_type, shown):
    load_tree(cli, tmp_path)
    out = cli.ok("orgs", "profile", COMMUNITY, "--type", given_type)
    assert f"Unit type: {shown}" in out


def test_profile_unknown_unit_type_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "profile", COMMUNITY, "--type", "混合型")
    assert "'混合型' is not a unit type" in result.stderr
    assert "business and residential mix" in result.stderr
    assert snapshot(database_url) == before


def test_profile_on_street_refused(cli, tmp_path, database_url):
    load_tree(cli, tmp_path)
    before = snapshot(database_url)
    result = refused(cli, "orgs", "profile", "330105017", "--households", "3000")
    assert "Only communities have profiles" in result.stderr
    assert "文晖街道 (330105017) is not a community" in result.stderr
    assert snapshot(database_url) == before


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--households", "abc"),
        ("--households", "-5"),
        ("--residents", "3.5"),
        ("--residents", "NaN"),
        ("--floating", "1e400x"),
        ("--floating", "-1"),
    ],
)
def test_profile_bad_count_refused(cli, tmp_path, database_url, option, value):
    load_tree(cli, tmp_path)
    _set(cli, "3000", "5000", "1500")
    before = snapshot(database_url)
    result = refused(cli, "orgs", "profile", COMMUNITY, option, value)
    assert f"'{value}' is not a whole number of 0 or more" in result.stderr
    assert snapshot(database_url) == before
