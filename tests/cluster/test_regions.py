import pytest

from cluster.regions import azs_of, format_remote_regions, parse_remote_regions


def test_remote_regions_round_trip():
    text = "eu-west-1=http://127.0.0.1:8101,ap-southeast-1=http://127.0.0.1:8201"
    regions = parse_remote_regions(text)
    assert regions == {"eu-west-1": "http://127.0.0.1:8101", "ap-southeast-1": "http://127.0.0.1:8201"}
    assert parse_remote_regions(format_remote_regions(regions)) == regions
    assert parse_remote_regions("") == {}


@pytest.mark.parametrize("bad", ["eu-west-1", "=http://x:1", "eu-west-1=127.0.0.1:8101"])
def test_bad_remote_regions_name_the_expected_form(bad):
    with pytest.raises(ValueError, match="REGION=http://HOST:PORT"):
        parse_remote_regions(bad)


def test_a_region_has_three_azs():
    assert azs_of("eu-west-1") == ("eu-west-1a", "eu-west-1b", "eu-west-1c")


def test_qualified_member_ids_and_remote_peers():
    from cluster.regions import format_remote_peers, parse_remote_peers, qualify, split_qualified
    assert split_qualified(qualify("eu-west-1", "n2")) == ("eu-west-1", "n2")
    peers = {"eu-west-1": "127.0.0.1:8301", "ap-southeast-1": "127.0.0.1:8302"}
    assert parse_remote_peers(format_remote_peers(peers)) == peers
    with pytest.raises(ValueError, match="REGION=HOST:PORT"):
        parse_remote_peers("eu-west-1=http://x:1")
