"""Front matter rewriting, byte for byte: a corpus of pages in many styles.

Every case states the whole expected page. On top of that each result is checked
for the promises that hold everywhere: a second run changes nothing, the values read
back with YAML 1.1 (PyYAML's safe loader) are the intended ones, and, where the
blocks already existed, no byte outside them changed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from pipeline.site import frontmatter as fm
from pipeline.site.frontmatter import BlockSpec, Field, FrontMatterError

SET = "Leg-Soleus"
GIF = f"muscles/gif/{SET}.gif"


def url(k: int) -> str:
    return f"muscles/png/{SET}-{k}.png"


def specs(
    title: str,
    count: int = 3,
    *,
    image_index: int = 0,
    width: int | None = None,
    thumbnail: bool = False,
) -> list[BlockSpec]:
    """What the pages step asks for, in miniature: 3 orientations by default."""
    image = (
        Field("image_id", "soleus", keep=True),
        Field("image_name", GIF),
        Field("image_title", title, keep=True),
        Field("image_alt", title, keep=True),
    )
    gallery = tuple(
        (
            Field("image_url", url(k)),
            Field("caption", f"{title} - orientation {k}", keep=True),
            Field("title", f"{title} - orientation {k}", keep=True),
            Field("thumbnail", f"muscles/png/{SET}-{k}-thumb.png" if thumbnail else None),
            Field("width", width),
        )
        for k in range(1, count + 1)
    )
    return [
        BlockSpec("images", (image,), start=image_index, exact=False),
        BlockSpec("gallery", gallery),
    ]


def rewrite(page: str, blocks: list[BlockSpec]) -> str:
    out = fm.update(fm.parse(page), blocks)
    again = fm.update(fm.parse(out), blocks)
    assert again == out, "a second run changed the page"
    return out


def front_values(page: str) -> dict[str, Any]:
    data = yaml.safe_load(fm.split_page(page).front)
    assert isinstance(data, dict)
    return data


def outside_blocks(page: str) -> str:
    """The page with the managed blocks cut out, by a plain line rule (independent of
    the code under test): a block is its key line and the indented or '-' lines after."""
    out: list[str] = []
    inside = False
    for line in page.splitlines(keepends=True):
        if re.match(r"(images|gallery):", line):
            inside = True
            continue
        if inside and line[:1] in (" ", "-") and line.strip():
            continue
        inside = inside and line.strip() == ""
        out.append(line)
    return "".join(out)


def in_order(lines: list[str], within: list[str]) -> bool:
    """Every line of ``lines`` appears, unchanged and in order, in ``within``."""
    rest = iter(within)
    return all(line in rest for line in lines)


def gallery_lines(title: str, ks: range, indent: str = "  ", q: str = "'") -> str:
    return "".join(
        f"{indent}- image_url: {url(k)}\n"
        f"{indent}  caption: {q}{title} - orientation {k}{q}\n"
        f"{indent}  title: {q}{title} - orientation {k}{q}\n"
        for k in ks
    )


SITE_PAGE = (
    "---\n\nlayout: page\npermalink: /muscle/leg/soleus/\n\n"
    "title: 'The soleus muscle'\nsubheadline: 'Images and description.'\n\n"
    "header: no\n\ntags: leg\n\n"
    "images:\n  - image_id: 'soleus'\n    image_name: 'muscles/gif/Leg-Soleus.gif'\n"
    "    image_title: 'The soleus muscle'\n    image_alt: 'The soleus muscle' \n\n"
    "gallery:\n" + gallery_lines("The soleus muscle", range(1, 4)) + "\n---\n\n"
    'Body text.\n\n---\n\n{% include page-image im_id="soleus" %}\n\n{% include gallery %}\n'
)


# -- the corpus ---------------------------------------------------------------------


def test_up_to_date_site_page_is_returned_byte_identical() -> None:
    assert rewrite(SITE_PAGE, specs("The soleus muscle")) == SITE_PAGE


def test_only_stale_values_change_and_human_text_is_kept() -> None:
    page = SITE_PAGE.replace("muscles/png/Leg-Soleus-2.png", "old/Leg-Soleus-2.png")
    page = page.replace("muscles/gif/Leg-Soleus.gif", "muscles/gif/Old.gif")
    page = page.replace("'The soleus muscle - orientation 3'", "'Seen from behind'", 1)
    out = rewrite(page, specs("The soleus muscle"))
    expected = page.replace("old/Leg-Soleus-2.png", "muscles/png/Leg-Soleus-2.png")
    expected = expected.replace("muscles/gif/Old.gif", "muscles/gif/Leg-Soleus.gif")
    assert out == expected
    data = front_values(out)
    assert data["gallery"][2]["caption"] == "Seen from behind"
    assert data["images"][0]["image_alt"] == "The soleus muscle"


def test_crlf_and_bom_are_kept_and_new_lines_use_crlf() -> None:
    lf = "---\ntitle: 'Soleus'\nimages:\n  - image_id: 'soleus'\n---\nBody\n"
    page = "\ufeff" + lf.replace("\n", "\r\n")
    out = rewrite(page, specs("Soleus", 2))
    expected_lf = (
        "---\ntitle: 'Soleus'\nimages:\n  - image_id: 'soleus'\n"
        f"    image_name: '{GIF}'\n    image_title: 'Soleus'\n    image_alt: 'Soleus'\n"
        "gallery:\n" + gallery_lines("Soleus", range(1, 3)) + "---\nBody\n"
    )
    assert out == "\ufeff" + expected_lf.replace("\n", "\r\n")
    assert "\n" not in out.replace("\r\n", "")


def test_comments_trailing_spaces_and_unknown_keys_survive() -> None:
    page = (
        '---\n# written by hand   \ntitle: "Soleus"   # the title\n'
        "gallery:   # one per orientation\n"
        "  # the front\n"
        "  - image_url: muscles/png/Leg-Soleus-1.png  # first\n"
        "    credit: 'Jane'\n"
        "    caption: 'Front'\n"
        "  # the side\n"
        "  - image_url: wrong.png\n"
        "    title: 'Side'   \n"
        "images: []\n"
        "other: x   \n"
        "---\n"
    )
    out = rewrite(page, specs("Soleus", 2))
    expected = (
        '---\n# written by hand   \ntitle: "Soleus"   # the title\n'
        "gallery:   # one per orientation\n"
        "  # the front\n"
        "  - image_url: muscles/png/Leg-Soleus-1.png  # first\n"
        "    credit: 'Jane'\n"
        "    caption: 'Front'\n"
        "    title: 'Soleus - orientation 1'\n"
        "  # the side\n"
        "  - image_url: muscles/png/Leg-Soleus-2.png\n"
        "    caption: 'Soleus - orientation 2'\n"
        "    title: 'Side'   \n"
        "images:\n"
        "  - image_id: 'soleus'\n"
        f"    image_name: '{GIF}'\n"
        "    image_title: 'Soleus'\n"
        "    image_alt: 'Soleus'\n"
        "other: x   \n"
        "---\n"
    )
    assert out == expected
    assert front_values(out)["gallery"][0]["credit"] == "Jane"


def test_body_with_dashes_and_liquid_is_never_touched() -> None:
    body = (
        '\nIntro\n\n---\n\n{% include page-image im_id="x" %}\n---\n...\n'
        "{{ page.gallery | size }}\n{% raw %}images: nope{% endraw %}\ngallery:\n  - x\n"
    )
    page = "---\ntitle: 'T'\n...\n" + body
    out = rewrite(page, specs("T", 1))
    assert out.endswith("...\n" + body)
    assert out.startswith("---\ntitle: 'T'\nimages:\n")


def test_non_ascii_text_is_kept_and_used_for_new_entries() -> None:
    page = (
        "---\ntitle: 'Musculus sóleus \u2013 Wadenmuskel 比目魚筋'\ngallery:\n"
        "  - image_url: muscles/png/Leg-Soleus-1.png\n    caption: 'Vorderansicht \u2013 größer'\n"
        "    title: 'Ansicht 1'\n---\n"
    )
    title = "Musculus sóleus \u2013 Wadenmuskel 比目魚筋"
    out = rewrite(page, specs(title, 2))
    data = front_values(out)
    assert data["gallery"][0]["caption"] == "Vorderansicht \u2013 größer"
    assert data["gallery"][1]["caption"] == f"{title} - orientation 2"
    assert data["images"][0]["image_title"] == title
    assert in_order(page.splitlines(keepends=True), out.splitlines(keepends=True))


def test_double_quoted_page_gets_double_quotes() -> None:
    page = '---\ntitle: "Soleus"\nimages:\ngallery:\n---\n'
    out = rewrite(page, specs("Soleus", 1))
    assert out == (
        '---\ntitle: "Soleus"\nimages:\n  - image_id: "soleus"\n'
        f'    image_name: "{GIF}"\n    image_title: "Soleus"\n    image_alt: "Soleus"\n'
        "gallery:\n" + gallery_lines("Soleus", range(1, 2), q='"') + "---\n"
    )


def test_plain_style_entries_stay_plain_where_yaml_allows() -> None:
    page = (
        "---\ngallery:\n  - image_url: muscles/png/Leg-Soleus-1.png\n"
        "    caption: Front view\n    title: Front view\n---\n"
    )
    out = rewrite(page, specs("yes", 3))
    assert "    caption: yes - orientation 2\n" in out
    assert front_values(out)["gallery"][1]["caption"] == "yes - orientation 2"
    # a value that cannot be plain falls back to the page's quotes (single by default)
    out = rewrite(page, specs("a: b", 2))
    assert "    caption: 'a: b - orientation 2'\n" in out
    out = rewrite(page.replace("gallery:", 'x: "q"\ngallery:'), specs("#1", 2))
    assert '    caption: "#1 - orientation 2"\n' in out
    assert front_values(out)["gallery"][1]["caption"] == "#1 - orientation 2"


def test_indentless_lists_and_blank_lines_between_entries_are_followed() -> None:
    page = (
        "---\ngallery:\n- image_url: muscles/png/Leg-Soleus-1.png\n  caption: 'a'\n  title: 'b'\n"
        "\n- image_url: muscles/png/Leg-Soleus-2.png\n  caption: 'c'\n  title: 'd'\n---\n"
    )
    out = rewrite(page, [specs("S", 4)[1]])
    assert out == page[:-4] + (
        "\n- image_url: muscles/png/Leg-Soleus-3.png\n"
        "  caption: 'S - orientation 3'\n  title: 'S - orientation 3'\n"
        "\n- image_url: muscles/png/Leg-Soleus-4.png\n"
        "  caption: 'S - orientation 4'\n  title: 'S - orientation 4'\n---\n"
    )


def test_more_entries_than_frames_are_removed_fewer_are_added() -> None:
    page = SITE_PAGE.replace(
        gallery_lines("The soleus muscle", range(1, 4)),
        gallery_lines("Mine", range(1, 6)),
    )
    out = rewrite(page, specs("The soleus muscle", 2))
    assert out == SITE_PAGE.replace(
        gallery_lines("The soleus muscle", range(1, 4)), gallery_lines("Mine", range(1, 3))
    )
    out = rewrite(SITE_PAGE, specs("The soleus muscle", 16))
    data = front_values(out)
    assert [e["image_url"] for e in data["gallery"]] == [url(k) for k in range(1, 17)]
    assert out == SITE_PAGE.replace(
        gallery_lines("The soleus muscle", range(1, 4)),
        gallery_lines("The soleus muscle", range(1, 17)),
    )


def test_missing_blocks_follow_the_pages_blank_line_layout() -> None:
    page = "---\n\ntitle: 'Soleus'\n\ntags: leg\n\n---\nBody\n"
    out = rewrite(page, specs("Soleus", 1))
    assert out == (
        "---\n\ntitle: 'Soleus'\n\ntags: leg\n\nimages:\n  - image_id: 'soleus'\n"
        f"    image_name: '{GIF}'\n    image_title: 'Soleus'\n    image_alt: 'Soleus'\n"
        "\ngallery:\n" + gallery_lines("Soleus", range(1, 2)) + "\n---\nBody\n"
    )
    # images missing but gallery present: it goes in front of gallery
    page = "---\n\ntitle: 'Soleus'\n\ngallery:\n" + gallery_lines("Soleus", range(1, 2)) + "---\n"
    out = rewrite(page, specs("Soleus", 1))
    assert out == (
        "---\n\ntitle: 'Soleus'\n\nimages:\n  - image_id: 'soleus'\n"
        f"    image_name: '{GIF}'\n    image_title: 'Soleus'\n    image_alt: 'Soleus'\n"
        "\ngallery:\n" + gallery_lines("Soleus", range(1, 2)) + "---\n"
    )


def test_empty_front_matter_gets_both_blocks() -> None:
    out = rewrite("---\n---\n", specs("Soleus", 1))
    assert front_values(out)["gallery"] == [
        {
            "image_url": url(1),
            "caption": "Soleus - orientation 1",
            "title": "Soleus - orientation 1",
        }
    ]


def test_key_order_and_position_of_blocks_are_kept() -> None:
    page = "---\ngallery:\n" + gallery_lines("T", range(1, 2)) + "title: 'T'\n---\n"
    out = rewrite(page, specs("T", 1))
    assert out == (
        "---\nimages:\n  - image_id: 'soleus'\n"
        f"    image_name: '{GIF}'\n    image_title: 'T'\n    image_alt: 'T'\n"
        "gallery:\n" + gallery_lines("T", range(1, 2)) + "title: 'T'\n---\n"
    )


def test_blank_and_null_texts_are_filled_other_human_values_kept() -> None:
    page = (
        "---\ngallery:\n  - image_url: muscles/png/Leg-Soleus-1.png\n    caption: ''\n"
        "    title:\n  - image_url: muscles/png/Leg-Soleus-2.png\n    caption: 42\n"
        "    title: ~\n---\n"
    )
    out = rewrite(page, [specs("T", 2)[1]])
    assert out == (
        "---\ngallery:\n  - image_url: muscles/png/Leg-Soleus-1.png\n"
        "    caption: 'T - orientation 1'\n    title: 'T - orientation 1'\n"
        "  - image_url: muscles/png/Leg-Soleus-2.png\n    caption: 42\n"
        "    title: 'T - orientation 2'\n---\n"
    )


def test_optional_fields_are_added_after_the_managed_keys_and_removed_when_off() -> None:
    on = rewrite(SITE_PAGE, specs("The soleus muscle", 3, width=812, thumbnail=True))
    assert (
        "    title: 'The soleus muscle - orientation 2'\n"
        "    thumbnail: muscles/png/Leg-Soleus-2-thumb.png\n"
        "    width: 812\n"
        "  - image_url: muscles/png/Leg-Soleus-3.png\n"
    ) in on
    assert front_values(on)["gallery"][0]["width"] == 812
    assert rewrite(on, specs("The soleus muscle", 3)) == SITE_PAGE


def test_other_images_are_left_alone_and_ours_is_added() -> None:
    page = (
        "---\nimages:\n  - image_id: 'photo'\n    image_name: 'photos/soleus.jpg'\n"
        "gallery:\n" + gallery_lines("T", range(1, 2)) + "---\n"
    )
    out = rewrite(page, specs("T", 1, image_index=1))
    assert out == (
        "---\nimages:\n  - image_id: 'photo'\n    image_name: 'photos/soleus.jpg'\n"
        "  - image_id: 'soleus'\n"
        f"    image_name: '{GIF}'\n    image_title: 'T'\n    image_alt: 'T'\n"
        "gallery:\n" + gallery_lines("T", range(1, 2)) + "---\n"
    )


def test_flow_style_lists_become_block_lists_keeping_values() -> None:
    page = (
        "---\ntitle: 'T'\ngallery: [{image_url: x.png, caption: 'Mine', credit: 'J'}]\n"
        "images: ~   # filled by the pipeline\n---\n"
    )
    out = rewrite(page, specs("T", 1))
    assert out == (
        "---\ntitle: 'T'\ngallery:\n  - image_url: muscles/png/Leg-Soleus-1.png\n"
        "    caption: 'Mine'\n    title: 'T - orientation 1'\n    credit: 'J'\n"
        "images:   # filled by the pipeline\n  - image_id: 'soleus'\n"
        f"    image_name: '{GIF}'\n    image_title: 'T'\n    image_alt: 'T'\n---\n"
    )


def test_changes_happen_only_inside_the_managed_blocks() -> None:
    page = SITE_PAGE.replace("orientation 2'", "orientation two'").replace(
        "muscles/png/Leg-Soleus-3.png", "x.png"
    )
    for blocks in (specs("New", 3), specs("New", 7, width=10), specs("New", 1)):
        out = rewrite(page, blocks)
        assert outside_blocks(out) == outside_blocks(page)
        assert out != page


# -- YAML 1.1 values ----------------------------------------------------------------

TRICKY = [
    "yes", "no", "on", "off", "Yes", "OFF", "y", "n", "true", "null", "Null", "~", "",
    "12:30", "1:30:00", "010", "0x1F", "1e3", "1.5", ".inf", "-.inf", ".nan", "1,000",
    "2001-12-14", "2001-12-14 21:59:43.10 -5", "#1", "a #b", ": x", "a: b", "- x", "-",
    "?", "? x", "[a]", "{a: b}", "&anchor", "*alias", "!tag", "%dir", "@at", "`tick",
    "|", ">", "'quoted'", '"dq"', "it's", 'say "hi"', "back\\slash", " lead", "trail ",
    "tab\there", "line\nbreak", "crlf\r\nx", "nel\x85x", "ls\u2028x", "bom\ufeffx",
    "bell\x07", "Ünïcödé \u2013 比目魚筋 😀", "=", "<<", ":sym", "/muscle/leg/", "Leg's muscle",
]  # fmt: skip


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("style", [None, "'", '"'])
def test_every_string_reads_back_identically(value: str, style: str | None) -> None:
    text = fm.emit_scalar(value, style)
    assert "\n" not in text and "\r" not in text
    assert yaml.safe_load(f"k: {text}\n") == {"k": value}


@pytest.mark.parametrize(
    "value",
    ["yes", "no", "on", "off", "null", "12:30", "010", "1e3", "y", "yEs", "nUll", "oFf", "N"],
)
def test_values_yaml_would_retype_are_never_plain(value: str) -> None:
    assert fm.emit_scalar(value, None)[0] in "'\""


def test_plain_and_preferred_quotes_are_used_when_they_can_hold_the_value() -> None:
    assert fm.emit_scalar("muscles/png/Leg-1.png", None) == "muscles/png/Leg-1.png"
    assert fm.emit_scalar("Front view", None) == "Front view"
    assert fm.emit_scalar("it's", "'") == "'it''s'"
    assert fm.emit_scalar("a: b", None, '"') == '"a: b"'
    assert fm.emit_scalar("tab\t", "'") == '"tab\\t"'
    assert fm.emit_scalar(812, "'") == "812"


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_titles_in_a_page_read_back(value: str) -> None:
    page = "---\ntitle: x\n---\n"
    out = rewrite(page, specs(value, 2))
    data = front_values(out)
    assert data["images"][0]["image_title"] == value
    assert data["gallery"][1]["caption"] == f"{value} - orientation 2"
    # a plain-style page and a double-quoted one read back the same
    for style_page in (SITE_PAGE.replace("'", ""), SITE_PAGE.replace("'", '"')):
        page_out = rewrite(style_page.replace("- orientation 1", "1"), specs(value, 4))
        values = front_values(page_out)
        assert values["gallery"][3]["title"] == f"{value} - orientation 4"
        assert values["gallery"][0]["caption"] == "The soleus muscle 1"


RUBY = shutil.which("ruby")
PSYCH = (
    'require "date"; require "yaml"; require "json"; STDIN.set_encoding("UTF-8");'
    " data = Psych.safe_load(STDIN.read, permitted_classes: [Date, Time], aliases: true);"
    " STDOUT.write(JSON.generate(data))"
)


def psych(text: str) -> Any:
    """``text`` read by Ruby's Psych exactly as Jekyll 4.3 (Debian) reads front matter."""
    assert RUBY is not None
    done = subprocess.run([RUBY, "-e", PSYCH], input=text.encode(), capture_output=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(RUBY is None, reason="needs Ruby (Psych), the reader Jekyll uses")
def test_psych_reads_every_written_string_back() -> None:
    lines: list[str] = []
    expected: dict[str, str] = {}
    for i, value in enumerate(TRICKY):
        for n, style in enumerate((None, "'", '"')):
            lines.append(f"k{i}_{n}: {fm.emit_scalar(value, style)}")
            expected[f"k{i}_{n}"] = value
    assert psych("\n".join(lines) + "\n") == expected


@pytest.mark.skipif(RUBY is None, reason="needs Ruby (Psych), the reader Jekyll uses")
def test_psych_reads_rewritten_pages_as_pyyaml_does() -> None:
    for title in ("yes", "1,000", "yEs", ":sym", "Ünïcödé \u2013 比目魚筋", 'it\'s "q" #1'):
        for page in (SITE_PAGE, SITE_PAGE.replace("'", ""), "---\ntitle: x\n---\n"):
            out = rewrite(page, specs(title, 4, width=812, thumbnail=True))
            front = fm.split_page(out).front
            assert psych(front) == yaml.safe_load(front)


# -- malformed pages --------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "line", "problem"),
    [
        ("title: x\n", 1, "first line must be '---'"),
        ("---\ntitle: x\n\nbody\n", 1, "no closing '---'"),
        ("---\ntitle: 'x\nother: y\n---\n", 4, "invalid YAML"),
        ("---\n\n- a\n- b\n---\n", 3, "not a list"),
        ("---\ntitle: x\ngallery:\n\t- image_url: a\n---\n", 4, "tab used for indentation"),
        ("---\ntitle: x\ngallery:\n  - image_url: a\n\tcaption: b\n---\n", 5, "tab"),
        ("---\ngallery: 'x'\n---\n", 2, "must be a list"),
        ("---\ngallery:\n  - just text\n---\n", 3, "must be a mapping"),
        ("---\nimages: []\nimages: []\n---\n", 3, "duplicate key 'images'"),
        (
            "---\nimages:\n  - image_id: a\ngallery:\n"
            "images:\n  - image_id: b\n  - image_id: c\n---\n",
            5,
            "duplicate key 'images'",
        ),
        ("---\nx: &a {image_url: u}\ngallery:\n  - *a\n---\n", 4, "aliases"),
        ("---\nplain text\n---\n", 2, "not a single value"),
        ("---\nbell: \x07\n---\n", 2, "invalid YAML"),
    ],
)
def test_malformed_front_matter_names_the_line(page: str, line: int, problem: str) -> None:
    with pytest.raises(FrontMatterError) as caught:
        fm.parse(page)
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value)


def test_a_rewrite_that_would_not_read_back_as_intended_is_refused() -> None:
    # duplicate keys: YAML keeps the last, so removing it would bring the first back
    page = SITE_PAGE.replace(
        "    title: 'The soleus muscle - orientation 2'\n",
        "    title: 'The soleus muscle - orientation 2'\n    width: 5\n    width: 6\n",
    )
    with pytest.raises(FrontMatterError) as caught:
        fm.update(fm.parse(page), specs("The soleus muscle"))
    assert "cannot rewrite 'gallery' safely" in caught.value.problem
    assert caught.value.line == SITE_PAGE.split("\n").index("gallery:") + 1


def test_split_keeps_every_byte() -> None:
    page = "\ufeff---  \r\na: 1\r\n---\r\n\r\n---\r\nbody"
    split = fm.split_page(page)
    assert (split.bom, split.opening, split.front, split.closing) == (
        "\ufeff",
        "---  \r\n",
        "a: 1\r\n",
        "---\r\n",
    )
    assert split.join(split.front) == page
    assert split.newline == "\r\n"
