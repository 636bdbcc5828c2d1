"""The tour (``python -m heatmapping tour``, the README's main job): it writes one offline
HTML page with every section and every figure it links, prints the same numbers, and the
claims of its captions follow from those numbers.  It runs once, in quick mode, per session."""

import contextlib
import html.parser
import io
import math
import re

import pytest

from heatmapping import tour
from heatmapping.__main__ import main
from heatmapping.files import staged_folder
from heatmapping.tour.page import Section, write_page

SECTIONS = ["3", "4", "5", "6", "7", "8"]


class Page(html.parser.HTMLParser):
    """The parts of index.html the tests read: section ids, the images of each section, the
    rows of the number tables, and the preformatted tables."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.rows, self.pre = [], {}, [], []
        self._cells, self._in = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
            self.images[attrs["id"]] = []
        elif tag == "img":
            self.images[self.sections[-1]].append(attrs["src"])
        elif tag == "tr":
            self._cells = []
        elif tag in ("td", "pre"):
            self._in = tag
            if tag == "td":
                self._cells.append("")
            else:
                self.pre.append("")

    def handle_endtag(self, tag):
        if tag == "tr":
            self.rows.append(tuple(self._cells))
        if tag in ("td", "pre"):
            self._in = None

    def handle_data(self, data):
        if self._in == "td":
            self._cells[-1] += data
        elif self._in == "pre":
            self.pre[-1] += data


@pytest.fixture(scope="module")
def quick_tour(tmp_path_factory):
    """(folder, stdout, parsed page) of one quick tour of every section."""
    out = tmp_path_factory.mktemp("tour") / "tour"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["tour", "--out", str(out), "--quick"]) == 0
    page = Page()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    return out, buffer.getvalue(), page


def block(stdout: str, key: str) -> str:
    """What section ``key`` printed."""
    found = re.search(rf"^Sec\. {key}  .*?(?=^Sec\. \d  |\Z)", stdout, re.M | re.S)
    assert found, f"section {key} printed nothing:\n{stdout}"
    return found.group(0)


def value(text: str, label: str) -> str:
    found = re.search(rf"^  {re.escape(label)}: (.*)$", text, re.M)
    assert found, f"no line '{label}: ...' in:\n{text}"
    return found.group(1)


def floats(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[+-]\d+)?", text)]


def test_the_page_has_every_section_and_every_image_it_links_is_a_png(quick_tour):
    out, _, page = quick_tour
    assert page.sections == [f"sec{k}" for k in SECTIONS]
    for key in SECTIONS:
        assert page.images[f"sec{key}"], f"section {key} shows no figure"
    for images in page.images.values():
        for src in images:
            assert "/" not in src, f"{src}: images are linked relatively, beside the page"
            png = (out / src).read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{src} is not a PNG"
            assert int.from_bytes(png[16:20], "big") <= 1650, f"{src} is wider than about 1600 px"
    assert not list(out.parent.glob(".*.part")), "the staging folder was left behind"


def test_the_page_shows_the_numbers_printed_on_stdout(quick_tour):
    _, stdout, page = quick_tour
    assert len(page.rows) >= 30, page.rows
    for label, v in page.rows:
        assert f"\n  {label}: {v}\n" in stdout, f"the page shows '{label}: {v}', stdout does not"


def test_sec3_prototypes_are_certain_and_localization_approaches_x0(quick_tour):
    text = block(quick_tour[1], "3")
    for name in ("simple AM", "AM + expert", "AM + decoder"):
        assert floats(value(text, f"p(w_c | x*) of the 10 prototypes, {name}"))[-1] >= 0.9
    gray = dict(re.findall(r"(simple AM|AM \+ expert|AM \+ decoder) ([\d.]+)",
                           value(text, "share of mid-gray pixels (-0.5 < x < 0.5), lower = sharper")))
    assert float(gray["simple AM"]) > float(gray["AM + expert"]) > float(gray["AM + decoder"]), text
    distances = [floats(value(text, f"localized AM, eta = {eta}"))[0] for eta in ("0", "0.3", "3")]
    assert distances[0] > distances[1] > distances[2], text


def test_sec4_lrp_conserves_and_simple_taylor_does_not_on_a_network_with_biases(quick_tour):
    text = block(quick_tour[1], "4")
    assert floats(value(text, "LRP: max |sum R - f_c(x)| over the 8 digits (conservation, Sec. 4.3)"))[0] < 1e-9
    assert floats(value(text, "simple Taylor: max |sum R - f_c(x)| (the biases' share, Sec. 4.2)"))[0] > 1e-3
    assert floats(value(text, "sensitivity: max |sum R - ||grad f||^2| (Sec. 4.1)"))[0] < 1e-9
    lines = re.findall(r"f_c\(x\) = ([\d.]+); sums of the heatmaps: .*LRP, deep Taylor ([\d.-]+)", text)
    assert len(lines) == 8 and all(f == r for f, r in lines), text
    ink = dict(re.findall(r"(simple Taylor|LRP, deep Taylor) ([\d.]+)",
                          re.search(r"share of \|R\| on the digits' ink.*", text).group(0)))
    assert float(ink["LRP, deep Taylor"]) > float(ink["simple Taylor"]), text


def test_sec5_the_rules_that_ignore_the_bias_conserve_and_the_ledger_is_shown(quick_tour):
    text, page = block(quick_tour[1], "5"), quick_tour[2]
    sums = {name: (float(r), float(f)) for name, r, f in
            re.findall(r"^  sum of R, (.*): ([\d.-]+) \(f_c = ([\d.-]+)\)$", text, re.M)}
    assert len(sums) == 7, text
    for name, (total, f_c) in sums.items():
        if not name.startswith("LRP-0") and "epsilon" not in name:
            assert total == pytest.approx(f_c, abs=2e-4), name
    assert sums["LRP-epsilon (eps 1)"][0] < sums["LRP-epsilon (eps 1)"][1] - 1, "eps absorbs"
    assert sum("R out" in pre and "stabilizer" in pre for pre in page.pre) == 2
    for rule in ("proportional", "winner-take-all"):
        total, f2 = floats(value(text, f"max-pool CNN, {rule}"))[:2]
        assert total == pytest.approx(f2, rel=1e-9), rule


def test_sec6_sliding_window_conserves_and_favours_the_class_digits(quick_tour):
    text = block(quick_tour[1], "6")
    assert all(b <= 0 for b in floats(value(text, "largest bias of each layer of the shipped CNN (Sec. 6.1: b <= 0)")))
    g, total = (float(v) for v in re.search(r"g = ([\d.]+), sum R = ([\d.]+)$", text, re.M).groups())
    assert g == pytest.approx(total, rel=1e-9)
    shares = [(d, float(v)) for d, v in re.findall(r"'(\d)' ([\d.]+)% \(", text)]
    assert len(shares) == 8
    assert sum(v for d, v in shares if d == "3") > 50, text
    assert min(v for d, v in shares if d == "3") > max(v for d, v in shares if d != "3"), text
    artefact = floats(value(text, "translation trick on the stride-4 CNN: block artefact at the "
                                  "4-pixel grid (1 = none), plain -> trick"))
    assert artefact[0] > 1.5 and artefact[1] < 1.2, text
    continuity = floats(value(text, "translation trick: continuity along a moving '2' (12 "
                                    "one-pixel shifts)"))
    assert continuity[1] < continuity[0], text
    assert value(text, "rule choice, heatmap recomputed after every removal: select_rules picks") in \
        ("deep_taylor", "alpha2beta1", "epsilon", "deep_taylor_real")


def test_sec7_continuity_and_selectivity_claims_hold(quick_tour):
    text = block(quick_tour[1], "7")
    lrp = floats(value(text, "Figure 6, continuity constant of deep Taylor LRP at grid spacings "
                             "0.1, 0.05, 0.025, 0.0125, 0.00625"))
    sens = floats(value(text, "Figure 6, continuity constant of sensitivity at grid spacings "
                              "0.1, 0.05, 0.025, 0.0125, 0.00625"))
    assert lrp == pytest.approx([math.sqrt(2)] * 5, abs=1e-4)
    assert sens[-1] / sens[0] == pytest.approx(16, rel=0.01)
    table = next(pre for pre in quick_tour[2].pre if "AUC, first 16" in pre)
    head = {row.rsplit(None, 2)[0]: float(row.split()[-1]) for row in table.splitlines()[1:]}
    assert min(head, key=head.get) != "random" and max(head, key=head.get) == "random", table


PAPER = ("sensitivity", "simple Taylor", "deep Taylor LRP", "LRP-alpha2beta1")
BASELINES = ("integrated gradients", "SmoothGrad", "occlusion")


def test_sec7_figure8_compares_the_baselines_and_says_which_are_ahead(quick_tour):
    text = block(quick_tour[1], "7")
    table = next(pre for pre in quick_tour[2].pre if "integrated gradients" in pre)
    rows = {row.rsplit(None, 2)[0]: tuple(map(float, row.split()[-2:])) for row in table.splitlines()[1:]}
    assert list(rows) == list(PAPER + BASELINES) + ["random"], table
    head = {name: v[1] for name, v in rows.items()}
    whole = {name: v[0] for name, v in rows.items()}
    top = min((k for k in head if k != "random"), key=head.get)
    assert value(text, "Figure 8 with the baselines (6 digits), most selective over the first 16 "
                       "patches") == f"{top} ({head[top]:.3f})"
    best_lrp = min(("deep Taylor LRP", "LRP-alpha2beta1"), key=head.get)
    ahead = [b for b in BASELINES if head[b] < head[best_lrp]]
    ahead_whole = [b for b in BASELINES if whole[b] < whole[best_lrp]]
    printed = value(text, f"Figure 8 with the baselines (6 digits), baselines more selective than the "
                          f"better LRP ({best_lrp}) over the first 16 patches, and over all 64")
    expected = "; ".join(", ".join(f"{b} ({v[b]:.3f})" for b in names) or "none"
                         for names, v in ((ahead, head), (ahead_whole, whole)))
    assert printed == expected, (printed, table)
    caption = re.search(r"figure sec7_figure8\.png: (.*)", text).group(1)
    if ahead:
        assert f"not against {'these baselines' if len(ahead) > 1 else ahead[0]}" in caption, caption
    else:
        assert "none of the baselines beats" in caption, caption
    # the paper's methods on those digits are the first rows of the 12-digit run
    main = next(pre for pre in quick_tour[2].pre if "AUC, first 16" in pre)
    assert "integrated gradients" not in main, "the paper's table keeps the paper's methods"
    errors = floats(value(text, "Figure 8, integrated gradients' completeness error |sum R - (f_c(x) - "
                                "f_c(black))| relative to |f_c(x) - f_c(black)|, median over the 6 "
                                "digits at 4 and at 32 steps"))
    assert errors[1] < errors[0], "more steps, a smaller completeness error"


def test_sec4_shows_the_baselines_with_what_their_sums_are(quick_tour):
    text = block(quick_tour[1], "4")
    gap, background = floats(value(text, "integrated gradients from the black image, 32 steps: max "
                                         "|sum R - (f_c(x) - f_c(black))| over the 8 digits (the "
                                         "midpoint rule's error), and max |R| on the black background"))
    assert gap < 1.0 and background == 0, text
    occlusion = value(text, "occlusion (4x4 black patches): sum of the single-patch drops against the "
                            "drop with every patch removed at once, f_c(x) - f_c(black), per digit; "
                            "max |R| on the patches that are black already")
    pairs = re.findall(r"([\d.-]+) vs ([\d.-]+)", occlusion)
    assert len(pairs) == 8 and floats(occlusion.split(";")[-1]) == [0.0], occlusion
    caption = re.search(r"figure sec4_methods\.png: (.*)", text).group(1)
    if all(float(a) > float(b) for a, b in pairs):
        assert "their sums exceed the drop" in caption, caption
    rough = floats(value(text, "roughness (mean |difference of neighbouring pixels| / mean |R|): the "
                               "gradient df_c/dx, SmoothGrad's mean over 32 noisy copies"))
    word = ("smoother" if rough[1] < 0.8 * rough[0] else "only slightly smoother" if rough[1] < rough[0]
            else "no smoother")
    assert f"is {word} than the gradient" in caption, (rough, caption)


def test_write_page_escapes_every_string(tmp_path):
    s = Section("9", "<script>alert(1)</script>", "a & b", "x < y", stream=io.StringIO())
    s.number("<b>", "1 < 2")
    s.figure('a".png', "<img src=x onerror=alert(1)>")
    s.table("<t>", "</pre><script>")
    text = write_page(tmp_path / "index.html", "T <i>", "intro & more", [s]).read_text()
    assert "<script>" not in text and "<b>" not in text and "<t>" not in text and "<i>" not in text
    assert "&lt;script&gt;" in text and 'src="a&quot;.png"' in text and "1 &lt; 2" in text


def test_sections_runs_only_the_chosen_ones_in_the_papers_order(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path / "t"), "--sections", "5,4", "--quick"]) == 0
    page = Page()
    page.feed((tmp_path / "t" / "index.html").read_text())
    assert page.sections == ["sec4", "sec5"]
    assert "[" in capsys.readouterr().err, "progress goes to stderr"


@pytest.mark.parametrize("sections", ["2", "3,9", "", "x"])
def test_an_unknown_section_is_refused_before_any_work(sections, tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path / "t"), "--sections", sections]) == 1
    assert "--sections: expected section numbers among 3,4,5,6,7,8" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_an_existing_tour_is_replaced_only_with_force(tmp_path, capsys):
    out = tmp_path / "t"
    out.mkdir()
    (out / "index.html").write_text("mine")
    assert main(["tour", "--out", str(out), "--sections", "4", "--quick"]) == 1
    assert "pass --force" in capsys.readouterr().err
    assert (out / "index.html").read_text() == "mine"
    assert main(["tour", "--out", str(out), "--sections", "4", "--quick", "--force"]) == 0
    assert "Sec. 4" in (out / "index.html").read_text()


@pytest.mark.parametrize("out, message", [
    ("{tmp}/file.txt", "exists and is not a folder"),
    ("{tmp}/no/such/t", "does not exist"),
])
def test_a_bad_out_folder_is_refused_before_any_work(out, message, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("")
    assert main(["tour", "--out", out.replace("{tmp}", str(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "--out" in err and message in err and "Traceback" not in err


def test_a_failing_section_leaves_no_file_behind(tmp_path, monkeypatch):
    def broken(t):
        t.save(t.section("9", "broken", "none"), __import__("heatmapping").render.new_figure(1, 1),
               "a.png", "caption")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        tour.run(tmp_path / "t", {"9": broken})
    assert list(tmp_path.iterdir()) == []


def test_staged_folder_moves_the_last_file_last_and_keeps_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("kept")
    with staged_folder(out, last="index.html") as folder:
        for name in ("index.html", "b.png", "a.png"):
            (folder / name).write_text(name)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "index.html", "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_sec8_the_tag_is_found_and_the_planted_answers_recovered(quick_tour):
    text = block(quick_tour[1], "8")
    shortcut = floats(value(text, "other digits called '7' once the tag is pasted on them (the shortcut)"))
    assert shortcut[0] > 10 * shortcut[1], text
    masses = re.findall(r"(LRP deep_taylor|LRP alpha2beta1) ([\d.]+) vs ([\d.]+)", text)
    assert len(masses) == 2 and all(float(t) > 3 * float(c) for _, t, c in masses), text
    purity = floats(value(text, "SpRAy on LRP of the 7s, half of them tagged: purity against the "
                                "planted split, tagged vs clean model"))
    assert purity[0] > 0.9 and purity[1] < 0.7, text
    pooled = dict(re.findall(r"(LRP \(w\^2, z\+\)|sensitivity) ([\d.e+-]+)",
                             re.search(r"EEG: max \|sum of the time-pooled.*", text).group(0)))
    assert float(pooled["LRP (w^2, z+)"]) < 1e-9 and float(pooled["sensitivity"]) > 1e-3, text
    ranks = re.search(r"\(best possible ([\d.]+), random ([\d.]+)\): LRP \(zB, z\+\) ([\d.]+), "
                      r"mutagenesis ([\d.]+)", text)
    best, chance, lrp, mutagenesis = (float(v) for v in ranks.groups())
    assert lrp < best + 2 and mutagenesis < best + 2 and chance > 10 * best, text
