import json

import pytest

from geo.errors import MetadataError
from geo.io.readers.mtl import format_mtl_json, format_mtl_txt, parse_mtl

GROUPS = {
    "PRODUCT_CONTENTS": {"PROCESSING_LEVEL": "L2SP", "FILE_NAME_BAND_4": "X_SR_B4.TIF"},
    "IMAGE_ATTRIBUTES": {
        "SPACECRAFT_ID": "LANDSAT_9",
        "DATE_ACQUIRED": "2023-03-17",
        "SUN_ELEVATION": 51.23,
    },
    "LEVEL1_RADIOMETRIC_RESCALING": {
        "REFLECTANCE_MULT_BAND_4": 2.0e-05,
        "REFLECTANCE_ADD_BAND_4": -0.1,
    },
    "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
        "REFLECTANCE_MULT_BAND_4": 2.75e-05,
        "REFLECTANCE_ADD_BAND_4": -0.2,
    },
}

USGS_STYLE = """GROUP = LANDSAT_METADATA_FILE
  GROUP = PRODUCT_CONTENTS
    ORIGIN = "Image courtesy of the U.S. Geological Survey"
    LANDSAT_PRODUCT_ID = "LC09_L2SP_167041_20230317_20230320_02_T1"
    PROCESSING_LEVEL = "L2SP"
  END_GROUP = PRODUCT_CONTENTS
  GROUP = IMAGE_ATTRIBUTES
    DATE_ACQUIRED = 2023-03-17
    SCENE_CENTER_TIME = "07:41:12.6423510Z"
    WRS_PATH = 167
    CLOUD_COVER = 0.12
  END_GROUP = IMAGE_ATTRIBUTES
  GROUP = LEVEL1_RADIOMETRIC_RESCALING
    REFLECTANCE_MULT_BAND_4 = 2.0000E-05
    REFLECTANCE_ADD_BAND_4 = -0.100000
  END_GROUP = LEVEL1_RADIOMETRIC_RESCALING
  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
    REFLECTANCE_MULT_BAND_4 = 2.75E-05
    REFLECTANCE_ADD_BAND_4 = -0.2
  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
END_GROUP = LANDSAT_METADATA_FILE
END
"""


def test_same_key_in_two_groups_is_read_by_group():
    m = parse_mtl(USGS_STYLE)
    assert m.get("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "REFLECTANCE_MULT_BAND_4") == 2.75e-05
    assert m.get("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "REFLECTANCE_ADD_BAND_4") == -0.2
    assert m.get("LEVEL1_RADIOMETRIC_RESCALING", "REFLECTANCE_MULT_BAND_4") == 2.0e-05
    assert m.get("LEVEL1_RADIOMETRIC_RESCALING", "REFLECTANCE_ADD_BAND_4") == -0.1


def test_value_types():
    m = parse_mtl(USGS_STYLE)
    assert m.get("IMAGE_ATTRIBUTES", "WRS_PATH") == 167
    assert m.get("IMAGE_ATTRIBUTES", "CLOUD_COVER") == 0.12
    assert m.get("IMAGE_ATTRIBUTES", "DATE_ACQUIRED") == "2023-03-17"
    assert m.get("IMAGE_ATTRIBUTES", "SCENE_CENTER_TIME") == "07:41:12.6423510Z"
    assert m.get("PRODUCT_CONTENTS", "ORIGIN").startswith("Image courtesy")


def test_json_form_equals_txt_form():
    as_json = json.dumps(
        {
            "LANDSAT_METADATA_FILE": {
                g: {k: str(v) for k, v in b.items()}
                for g, b in parse_mtl(USGS_STYLE).groups.items()
            }
        }
    )
    assert parse_mtl(as_json).groups == parse_mtl(USGS_STYLE).groups


@pytest.mark.parametrize("fmt", [format_mtl_txt, format_mtl_json])
def test_round_trip(fmt):
    assert parse_mtl(fmt(GROUPS)).groups == GROUPS


def test_nul_padding_is_ignored():
    assert parse_mtl(USGS_STYLE + "\x00" * 500).get("IMAGE_ATTRIBUTES", "WRS_PATH") == 167


def test_missing_group_names_source_and_groups():
    m = parse_mtl(USGS_STYLE, source="X_MTL.txt")
    with pytest.raises(
        MetadataError,
        match=r"X_MTL.txt: MTL group 'PROJECTION_ATTRIBUTES' is missing.*IMAGE_ATTRIBUTES",
    ):
        m.get("PROJECTION_ATTRIBUTES", "UTM_ZONE")
    with pytest.raises(MetadataError, match="IMAGE_ATTRIBUTES/SUN_ELEVATION is missing"):
        m.get("IMAGE_ATTRIBUTES", "SUN_ELEVATION")
    assert m.get("IMAGE_ATTRIBUTES", "SUN_ELEVATION", None) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("GROUP = LANDSAT_METADATA_FILE\n  GROUP = A\n    X = 1\n", "never closed"),
        ("GROUP = A\nEND_GROUP = B\n", "does not close"),
        ("this is not an MTL", "cannot read MTL line"),
        ('{"foo": {}}', "no 'LANDSAT_METADATA_FILE' root"),
        ("{not json", "not valid MTL JSON"),
    ],
)
def test_malformed_mtl(text, message):
    with pytest.raises(MetadataError, match=message):
        parse_mtl(text, source="bad_MTL.txt")
