"""The browser tier: the Faces view driven in Debian's Chromium through Airflow's own login and
nav, as a person uses it (helpers.webstack's api-server over three sample days).

One walk names, moves a face out, merges it back through the merge picker and its preview,
searches by upload, opens a day and its report, answers a question and forgets a person,
checking each step in the tables and the audit, and that each change lands on a GET page.
Another opens the photo page and the merge preview in Airflow's light and dark modes (the
view follows Airflow's choice live) at 1300 and 800 px wide. Screenshots go to
FACEPIPE_SCREENSHOTS (a folder) or a scratch folder; with FACEPIPE_UPDATE_SCREENSHOTS=1
they replace docs/images/.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from helpers.rows import q
from helpers.webstack import faces_of, identities, last_audit, web_reports_dir

pytestmark = [pytest.mark.web, pytest.mark.browser]

DOCS_IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


def screenshots(tmp_path: Path) -> Path:
    if os.environ.get("FACEPIPE_UPDATE_SCREENSHOTS") == "1":
        shots = DOCS_IMAGES
    else:
        shots = Path(os.environ.get("FACEPIPE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def docs_width(width: int) -> bool:
    """Whether a screenshot at ``width`` is kept: all of them in a scratch folder, only the 1300 px
    ones in docs/images (the 800 px walk checks the layout; the docs need one of each)."""
    return width == 1300 or os.environ.get("FACEPIPE_UPDATE_SCREENSHOTS") != "1"


def chromium_or_skip() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    return chromium


def view_frame(page):
    return next(f for f in reversed(page.frames) if "/facepipe/" in f.url)


def get_safe(page) -> bool:
    """The view's frame holds a GET page: loading its URL again (a reload, a bookmark) shows it."""
    return page.request.get(view_frame(page).url).status == 200


def log_in(p, chromium, web, width=1300):
    browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": width, "height": 950})
    page.goto(web.url + "/")
    page.fill("input[name=username]", "editor")
    page.fill("input[name=password]", web.passwords["editor"])
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/auth/login" not in u, timeout=60_000)
    return browser, page


def test_faces_view_in_the_airflow_ui(web, db, people, sample_days, tmp_path):
    """Log in, open Faces from the nav, name, move out, merge, search, open a day and its report,
    forget; every step checked in the tables and the audit; every crop decoded."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    schema = web.schema
    unnamed = [i for i, n in identities(db, schema).items() if n is None]
    assert unnamed, "the sample days make a recurring visitor"
    visitor = max(unnamed, key=lambda i: len(faces_of(db, schema, i)))
    shots = screenshots(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 950})
        dialogs: list = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(web.url + "/")
        page.fill("input[name=username]", "editor")
        page.fill("input[name=password]", web.passwords["editor"])
        page.click("button[type=submit]")
        page.wait_for_url(lambda u: "/auth/login" not in u, timeout=60_000)
        # Browse -> Faces: the plugin's nav entry opens the view in the UI's iframe
        page.get_by_role("button", name="Browse").click()
        page.get_by_role("menuitem", name="Faces").click()
        page.wait_for_url("**/plugin/faces", timeout=30_000)
        frame = page.frame_locator("iframe")
        frame.locator(".card").first.wait_for(timeout=60_000)

        def crops_render():
            """Every crop on the page decoded (each is cut on request: wait until all have loaded)."""
            import time

            imgs = frame.locator("img")
            for i in range(imgs.count()):
                imgs.nth(i).scroll_into_view_if_needed()
            deadline = time.monotonic() + 90
            while True:
                sizes = imgs.evaluate_all("els => els.map(e => [e.complete, e.naturalWidth])")
                if all(done for done, _ in sizes) or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(500)
            assert sizes and all(done and w > 0 for done, w in sizes), sizes
            frame.locator("body").evaluate("() => window.scrollTo(0, 0)")  # screenshots from the top

        crops_render()
        page.screenshot(path=str(shots / "faces-people.png"))
        walk = tmp_path / "walk"  # every step at 800 px in dark mode too (scratch screenshots, not the docs')
        walk.mkdir(exist_ok=True)
        walked: list[str] = []

        def narrow_and_dark(name: str):
            """The page as it is now at 800 px wide in Airflow's dark mode: no horizontal scroll, no
            broken image, a dark page; then back to 1300 px and light."""
            inner = view_frame(page)
            page.set_viewport_size({"width": 800, "height": 950})
            page.evaluate("() => document.documentElement.classList.add('dark')")
            inner.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=5000)
            fits = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            assert inner.evaluate(fits), f"{name}: horizontal scroll at 800 px"
            broken = inner.evaluate("() => [...document.images].filter(i => i.complete && !i.naturalWidth).length")
            assert broken == 0, f"{name}: {broken} broken images"
            bg = inner.evaluate("() => getComputedStyle(document.body).backgroundColor")
            assert bg not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), f"{name}: {bg} in dark mode"
            page.screenshot(path=str(walk / f"{len(walked):02d}-{name}-800-dark.png"))
            page.evaluate("() => document.documentElement.classList.remove('dark')")
            inner.wait_for_function("() => !document.documentElement.classList.contains('dark')", timeout=5000)
            page.set_viewport_size({"width": 1300, "height": 950})
            walked.append(name)

        narrow_and_dark("people")

        def act(control):
            """Submit a form: its POST, the 303 and the GET page it lands on, then that page's notice."""
            with view_frame(page).expect_navigation(timeout=180_000):
                control.click()
            done()

        def done():
            """The page the change landed on (a GET: Post/Redirect/Get), with its notice; a refusal fails."""
            frame.locator("#notice").wait_for(timeout=180_000)
            errors = frame.locator(".error")
            assert errors.count() == 0, errors.first.inner_text()
            assert get_safe(page), page.url

        # name the visitor
        frame.locator(f'.card[data-identity="{visitor}"] a.who').click()
        frame.locator("#name-form").wait_for()
        crops_render()
        frame.locator('#name-form input[name="name"]').fill("Vera Visitor")
        act(frame.locator("#name-form button"))
        assert identities(db, schema)[visitor] == "Vera Visitor"
        assert last_audit(db, schema)[:3] == ("name", "ui:editor", visitor)
        narrow_and_dark("named")
        # one truth: her day reports were rebuilt by the same operation
        assert q(db, schema, "SELECT count(*) FROM {s}.report_sightings WHERE person_name = 'Vera Visitor'")[0][0] > 0
        assert "Vera Visitor" in (web_reports_dir() / sample_days[-1].isoformat() / "report.html").read_text()

        # move one face out into a new identity: the identity's page again, with the notice
        before = faces_of(db, schema, visitor)
        # "Not this person…": the face, the identities nearest to it (by face) or by name, or one of its own
        frame.locator(".move-link").first.click()
        frame.locator("#move-candidates").wait_for()
        crops_render()
        assert get_safe(page)
        page.screenshot(path=str(shots / "faces-move.png"))
        narrow_and_dark("move-picker")
        act(frame.locator("#move-new button"))
        op, who, new, old = q(
            db, schema, "SELECT op, who, identity_id, other_id FROM {s}.audit ORDER BY op_no DESC LIMIT 1"
        )[0]
        assert (op, who, old) == ("move", "ui:editor", visitor)
        assert len(faces_of(db, schema, new)) == 1 and len(faces_of(db, schema, visitor)) == len(before) - 1
        narrow_and_dark("moved")

        # merge it back: "merge another identity into this one", picked by face, both sides shown first
        frame.locator("#notice").get_by_role("link", name="identity #").first.wait_for()
        frame.locator("#merge-link").click()
        frame.locator(f'.card[data-identity="{new}"]').click()
        frame.locator("#merge-preview").wait_for()
        crops_render()
        assert frame.locator("#side-other img").count() == 1 and frame.locator("#side-into img").count() >= 1
        assert faces_of(db, schema, new), "a preview changes nothing"
        narrow_and_dark("merge-preview")
        act(frame.locator("#merge-form button"))
        assert faces_of(db, schema, visitor) == before and new not in identities(db, schema)
        assert last_audit(db, schema) == ("merge", "ui:editor", visitor, new)
        frame.locator("#name-form").wait_for()
        crops_render()
        page.screenshot(path=str(shots / "faces-identity.png"))
        narrow_and_dark("merged")

        # search by uploading an enrolment photo of Eileen Collins
        frame.get_by_role("link", name="Search", exact=True).click()
        photo = sorted((people / "eileen_collins").iterdir())[0]
        frame.locator('#search-form input[name="photo"]').set_input_files(str(photo))
        frame.locator('#search-form input[name="since"]').fill((sample_days[0] - dt.timedelta(days=1)).isoformat())
        frame.locator('#search-form input[name="until"]').fill(sample_days[-1].isoformat())
        frame.locator("#search-form button").click()
        frame.locator("#results").wait_for()
        assert "Eileen Collins" in frame.locator("#results .group").first.inner_text()
        frame.locator("#query-photo").wait_for()
        assert frame.locator("#pick .box.chosen").count() == 1
        frame.locator("#threshold").wait_for()
        crops_render()
        page.screenshot(path=str(shots / "faces-search.png"))
        narrow_and_dark("search")

        # a day, its rejects and its report page
        frame.get_by_role("link", name="Days", exact=True).click()
        frame.locator("#days").wait_for()
        narrow_and_dark("days")
        frame.get_by_role("link", name=sample_days[-1].isoformat(), exact=True).first.click()
        frame.locator("#report-link").click()
        frame.get_by_text("Vera Visitor").first.wait_for()
        page.screenshot(path=str(shots / "faces-report.png"))
        narrow_and_dark("report")

        # a question of the night ("is this face Vera?"), answered no on the Suggestions page
        face = q(
            db,
            schema,
            "SELECT f.day, f.image_id, f.box_x, f.box_y, f.box_w, f.box_h FROM {s}.faces f"
            " WHERE NOT EXISTS (SELECT 1 FROM {s}.face_identity a WHERE a.identity_id = %s"
            " AND a.day = f.day AND a.image_id = f.image_id) ORDER BY 1 DESC, 2 LIMIT 1",
            visitor,
        )[0]
        (asked,) = q(
            db,
            schema,
            "INSERT INTO {s}.suggestions (kind, identity_id, day, image_id, box_x, box_y, box_w, box_h, evidence)"
            ' VALUES (\'face\', %s, %s, %s, %s, %s, %s, %s, \'{{"distance": 0.46, "why": "another identity as'
            " near\"}}') RETURNING suggestion_id",
            visitor,
            *face,
        )[0]
        page.goto(web.url + "/plugin/faces")
        frame.get_by_role("navigation").get_by_role("link", name="Suggestions").click()
        row = frame.locator(f'tr[data-suggestion="{asked}"]')
        row.wait_for()
        assert f"identity #{visitor}" in row.inner_text()
        crops_render()
        page.screenshot(path=str(shots / "faces-suggestions.png"))
        narrow_and_dark("suggestions")
        row.get_by_role("button", name="No").click()
        frame.get_by_text(f"this face never joins identity {visitor}").wait_for()
        assert get_safe(page)
        narrow_and_dark("answered")
        assert q(db, schema, "SELECT state, answered_by FROM {s}.suggestions WHERE suggestion_id = %s", asked) == [
            ("no", "ui:editor")
        ]
        frame.get_by_role("navigation").get_by_role("link", name="Suggestions").click()
        frame.locator("h1").get_by_text("Suggestions").wait_for()
        assert frame.locator(f'tr[data-suggestion="{asked}"]').count() == 0  # not asked again

        # forget Vera: the dry run's counts, then the typed confirmation (the report page has no
        # nav of its own: back to Faces from Airflow's)
        page.goto(web.url + "/plugin/faces")
        frame.get_by_role("link", name="Forget", exact=True).click()
        frame.locator('#forget-ask input[name="which"]').fill(f"identity:{visitor}")
        frame.locator("#forget-ask button").click()
        frame.locator("#would").wait_for()
        assert visitor in identities(db, schema)  # a dry run changes nothing
        frame.locator('#forget-confirm input[name="typed"]').fill(f"identity:{visitor}")
        page.screenshot(path=str(shots / "faces-forget.png"))
        narrow_and_dark("forget-preview")
        with view_frame(page).expect_navigation(timeout=180_000):
            frame.locator("#forget-confirm button").click()
        frame.locator("#notice").get_by_text("Forgotten:").wait_for(timeout=180_000)
        assert get_safe(page)
        assert visitor not in identities(db, schema)
        assert q(db, schema, "SELECT who FROM {s}.audit WHERE op = 'forget_person'") == [("ui:editor",)]
        assert not q(db, schema, "SELECT 1 FROM {s}.report_sightings WHERE person_name = 'Vera Visitor'")
        narrow_and_dark("forgotten")
        browser.close()
    assert dialogs == []
    assert len(walked) == 13, walked


def images_loaded(frame, page):
    """Every image of the view's page decoded (crops and photos are cut on request)."""
    import time

    imgs = frame.locator("img")
    for i in range(imgs.count()):
        imgs.nth(i).scroll_into_view_if_needed()
    deadline = time.monotonic() + 90
    while True:
        sizes = imgs.evaluate_all("els => els.map(e => [e.complete, e.naturalWidth])")
        if all(done for done, _ in sizes) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert sizes and all(done and w > 0 for done, w in sizes), sizes
    frame.locator("body").evaluate("() => window.scrollTo(0, 0)")


def test_the_photo_page_and_the_merge_preview_light_and_dark(web, db, tmp_path):
    """The photo behind a face (every box, who it is) and a merge's preview (both sides' faces), in
    Airflow's light mode and, switched live, its dark mode; at 800 px no horizontal scroll."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    schema = web.schema
    day, image_id, n = q(
        db,
        schema,
        "SELECT day, image_id, count(*) FROM {s}.faces GROUP BY 1, 2 ORDER BY 3 DESC, 1 DESC, 2 LIMIT 1",
    )[0]
    if len(identities(db, schema)) < 2:  # the walk above may have forgotten all but one: a face moved out
        fday, fimage, fno, ident = q(
            db,
            schema,
            "SELECT f.day, f.image_id, f.face_no, a.identity_id FROM {s}.face_identity a JOIN {s}.faces f"
            " ON f.day = a.day AND f.image_id = a.image_id AND (f.box_x, f.box_y, f.box_w, f.box_h)"
            " = (a.box_x, a.box_y, a.box_w, a.box_h) JOIN {s}.identities i ON i.identity_id = a.identity_id"
            " WHERE i.faces > 1 ORDER BY 1 DESC LIMIT 1",
        )[0]
        r = web.editor.post(
            "/facepipe/faces/move", data={"day": fday, "image_id": fimage, "face_no": fno, "back": ident}
        )
        assert r.status_code == 303
    named = [i for i, name in identities(db, schema).items() if name is not None]
    unnamed = [i for i, name in identities(db, schema).items() if name is None]
    into, other = (named + unnamed)[0], (named + unnamed)[-1]
    shots = screenshots(tmp_path)
    with sync_playwright() as p:
        for width in (1300, 800):
            browser, page = log_in(p, chromium, web, width)
            page.goto(f"{web.url}/plugin/faces/facepipe/photos/{day}/{image_id}")
            frame = page.frame_locator("iframe")
            frame.locator("#photo img").wait_for(timeout=60_000)
            images_loaded(frame, page)
            assert frame.locator("#photo .box").count() == n
            assert frame.locator("#photo-faces tr[data-face]").count() == n
            inner = view_frame(page)
            assert inner.title().endswith("· Faces · Airflow") and inner.title() != "Faces · Airflow"
            # the boxes lie inside the photo as drawn
            photo = frame.locator("#photo img").bounding_box()
            for i in range(n):
                box = frame.locator("#photo .box").nth(i).bounding_box()
                assert photo["x"] - 1 <= box["x"] and box["x"] + box["width"] <= photo["x"] + photo["width"] + 1
                assert photo["y"] - 1 <= box["y"] and box["y"] + box["height"] <= photo["y"] + photo["height"] + 1
            wide = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            assert inner.evaluate(wide), f"horizontal scroll at {width} px"
            assert not inner.evaluate("() => document.documentElement.classList.contains('dark')")
            if docs_width(width):
                page.screenshot(path=str(shots / f"faces-photo-light-{width}.png"))
            # Airflow switched to dark: the view follows without a reload
            page.evaluate("() => document.documentElement.classList.add('dark')")
            inner.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=5000)
            bg = inner.evaluate("() => getComputedStyle(document.body).backgroundColor")
            assert bg not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), bg
            if docs_width(width):
                page.screenshot(path=str(shots / f"faces-photo-dark-{width}.png"))
            page.evaluate("() => document.documentElement.classList.remove('dark')")
            inner.wait_for_function("() => !document.documentElement.classList.contains('dark')", timeout=5000)

            # the merge preview: both identities' faces side by side, nothing changed yet
            before = identities(db, schema)
            page.goto(f"{web.url}/plugin/faces/facepipe/people/{into}/merge?other={other}")
            frame = page.frame_locator("iframe")
            frame.locator("#merge-preview").wait_for(timeout=60_000)
            images_loaded(frame, page)
            assert frame.locator("#side-into img").count() >= 1 and frame.locator("#side-other img").count() >= 1
            inner = view_frame(page)
            assert inner.evaluate(wide), f"horizontal scroll at {width} px"
            if docs_width(width):
                page.screenshot(path=str(shots / f"faces-merge-light-{width}.png"))
            page.evaluate("() => document.documentElement.classList.add('dark')")
            inner.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=5000)
            if docs_width(width):
                page.screenshot(path=str(shots / f"faces-merge-dark-{width}.png"))
            assert identities(db, schema) == before
            browser.close()
    print(f"screenshots in {shots}")


def whole(page, path: Path, width: int) -> None:
    """The frame's whole page, to look at: the window made as tall as the frame's content."""
    height = view_frame(page).evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": width, "height": min(6000, height + 120)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 950})


def test_days_the_report_and_search_light_and_dark(web, db, sample_days, tmp_path):
    """Days (every day from the start date), a day, its report in the view's frame (crops open the
    photo, CSV files linked) and a search by a photo of several faces, where a click on another
    face searches for it: in light and dark mode, at 1300 and 800 px, no broken image and no
    horizontal scroll, every page a GET-safe URL."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    schema = web.schema
    uri, n = q(
        db,
        schema,
        "SELECT i.uri, count(*) FROM {s}.faces f JOIN {s}.images i USING (day, image_id)"
        " WHERE i.media = 'photo' GROUP BY i.uri ORDER BY 2 DESC, 1 LIMIT 1",
    )[0]
    group = Path(uri.removeprefix("file://"))
    report_day = max(
        d
        for d in sample_days
        if q(db, schema, "SELECT 1 FROM {s}.report_recurring_unknowns WHERE day = %s", d)
        or q(db, schema, "SELECT 1 FROM {s}.report_sightings WHERE day = %s", d)
    )
    shots = screenshots(tmp_path)
    wide = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"

    def both_modes(page, frame, name, width):
        inner = view_frame(page)
        if frame.locator("img").count():
            images_loaded(frame, page)
        assert inner.evaluate(wide), f"horizontal scroll on {name} at {width} px"
        assert get_safe(page), name
        assert not inner.title().startswith("Airflow") and "· Faces" in inner.title()
        page.wait_for_function("t => document.title === t", arg=inner.title(), timeout=5000)  # Airflow's tab too
        if docs_width(width):
            page.screenshot(path=str(shots / f"faces-{name}-light-{width}.png"))
        if os.environ.get("FACEPIPE_SCREENSHOTS"):  # the whole page of the frame, to look at
            whole(page, shots / f"whole-{name}-light-{width}.png", width)
        page.evaluate("() => document.documentElement.classList.add('dark')")
        inner.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=5000)
        if docs_width(width):
            page.screenshot(path=str(shots / f"faces-{name}-dark-{width}.png"))
        page.evaluate("() => document.documentElement.classList.remove('dark')")
        inner.wait_for_function("() => !document.documentElement.classList.contains('dark')", timeout=5000)

    with sync_playwright() as p:
        for width in (1300, 800):
            browser, page = log_in(p, chromium, web, width)
            page.goto(f"{web.url}/plugin/faces/facepipe/days?since=2026-11-01&until=2026-11-30")
            frame = page.frame_locator("iframe")
            frame.locator("#days").wait_for(timeout=60_000)
            assert frame.locator('tr.never[data-day="2026-11-30"][data-first="2026-11-23"]').count() == 1
            assert frame.locator(f'tr.loaded[data-day="{sample_days[0]}"]').count() >= 1
            both_modes(page, frame, "days", width)
            if width == 1300:  # a link to Airflow's own page opens in Airflow's page, not inside the frame
                view_frame(page).evaluate(
                    """() => { const a = document.createElement("a"); a.id = "probe"; a.textContent = "a run";
                    a.href = "/dags/face_ingest/runs/manual__probe"; a.setAttribute("data-airflow", "");
                    a.target = "_top"; document.body.prepend(a); }"""
                )
                frame.locator("#probe").click()
                page.wait_for_url("**/dags/face_ingest/runs/manual__probe", timeout=30_000)
                page.wait_for_function("() => !document.querySelector('iframe')", timeout=30_000)  # Airflow's own page
                page.goto(f"{web.url}/plugin/faces/facepipe/days?since=2026-11-01&until=2026-11-30")
                frame = page.frame_locator("iframe")
                frame.locator("#days").wait_for(timeout=60_000)
            frame.get_by_role("link", name=report_day.isoformat(), exact=True).first.click()
            frame.locator("#report-link").wait_for(timeout=60_000)
            both_modes(page, frame, "day", width)
            frame.locator("#report-link").click()
            frame.locator("#csv-files").wait_for(timeout=60_000)
            assert frame.locator("#csv-files a").count() == 4
            assert frame.locator("nav.tabs").count() == 1  # in the view's frame, with its nav
            both_modes(page, frame, "report", width)
            # a crop of the report opens its photo's page
            crop = frame.locator('a[href*="/photos/"] img[src*="/crop/"]').first
            if crop.count():
                crop.click()
                frame.locator("#photo img").wait_for(timeout=60_000)
                assert get_safe(page)

            # search by a photo of several faces; then another of its faces, by a click
            frame.get_by_role("link", name="Search", exact=True).click()
            frame.locator('#search-form input[name="photo"]').set_input_files(str(group))
            frame.locator('#search-form input[name="since"]').fill("2026-11-01")
            frame.locator('#search-form input[name="until"]').fill("2026-11-30")
            frame.locator("#search-form button").click()
            frame.locator("#query-photo").wait_for(timeout=120_000)
            assert frame.locator('#pick .box.chosen[data-face="0"]').count() == 1
            boxes = frame.locator("#pick .box").count()
            assert boxes >= 2, boxes
            both_modes(page, frame, "search", width)
            frame.locator('#pick button.box[data-face="1"]').click()
            frame.locator('#pick .box.chosen[data-face="1"]').wait_for(timeout=120_000)
            frame.locator("#results").wait_for()
            if frame.locator("#results img").count():
                images_loaded(frame, page)
            assert get_safe(page)  # /facepipe/search/face asked for with GET: the Search page
            if width == 1300:
                page.screenshot(path=str(shots / "faces-search-other-face.png"))
                if os.environ.get("FACEPIPE_SCREENSHOTS"):
                    whole(page, shots / "whole-search-other-face.png", width)
            browser.close()
    print(f"screenshots in {shots}")


def act(page, frame, control):
    """Submit a form: its POST, the 303 and the GET page it lands on, with its notice; a refusal fails."""
    with view_frame(page).expect_navigation(timeout=180_000):
        control.click()
    frame.locator("#notice").wait_for(timeout=180_000)
    errors = frame.locator(".error")
    assert errors.count() == 0, errors.first.inner_text()
    assert get_safe(page), page.url


def test_unassigned_groups_and_hiding_in_the_browser(web, db, tmp_path):
    """The Unassigned page from the view's nav, in light and dark at 1300 and 800 px: name the
    largest group inline, dismiss one face of another (the rest unticked), hide the new person on
    their page and find them again with "Show hidden", show them again, merge another identity
    into them and undo it from the notice, then open the forget's dry run for them; each change
    lands on a GET page with its notice, and the tables agree."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    schema = web.schema
    shots = screenshots(tmp_path)
    wide = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    with sync_playwright() as p:
        for width in (1300, 800):
            browser, page = log_in(p, chromium, web, width)
            page.goto(f"{web.url}/plugin/faces/facepipe/people")
            frame = page.frame_locator("iframe")
            frame.get_by_role("navigation").get_by_role("link", name="Unassigned").click()
            frame.locator("h1").get_by_text("Unassigned faces").wait_for(timeout=60_000)
            inner = view_frame(page)
            assert inner.title() == "Unassigned faces · Faces · Airflow"
            if frame.locator("section.group").count():
                images_loaded(frame, page)
            assert inner.evaluate(wide), f"horizontal scroll at {width} px"
            page.screenshot(path=str(shots / f"faces-unassigned-light-{width}.png"))
            page.evaluate("() => document.documentElement.classList.add('dark')")
            inner.wait_for_function("() => document.documentElement.classList.contains('dark')", timeout=5000)
            page.screenshot(path=str(shots / f"faces-unassigned-dark-{width}.png"))
            page.evaluate("() => document.documentElement.classList.remove('dark')")
            if width == 800:
                browser.close()
                break
            # name the largest group inline
            group = frame.locator("section.group").first
            faces = group.locator('input[name="face"]').evaluate_all("els => els.map(e => e.value)")
            assert len(faces) >= 2, "the sample days leave no group of two or more unassigned faces"
            group.locator('input[name="name"]').fill("Gus Group")
            act(page, frame, group.get_by_role("button", name="Name", exact=True))
            assert frame.locator("#notice").get_by_text(f"{len(faces)} faces named Gus Group.").count() == 1
            ((gus, n),) = q(
                db,
                schema,
                "SELECT i.identity_id, i.faces FROM {s}.identities i JOIN {s}.people p USING (person_id)"
                " WHERE p.name = 'Gus Group'",
            )
            assert n == len(faces) and last_audit(db, schema)[:3] == ("name", "ui:editor", gus)
            for f in faces:
                assert frame.locator(f'input[name="face"][value="{f}"]').count() == 0
            images_loaded(frame, page)
            page.screenshot(path=str(shots / "faces-unassigned-named.png"))

            # dismiss one face: the others of its group unticked
            group = frame.locator("section.group").first
            boxes = group.locator('input[name="face"]')
            keep = boxes.first.get_attribute("value")
            for i in range(1, boxes.count()):
                boxes.nth(i).uncheck()
            act(page, frame, group.get_by_role("button", name="Not a face"))
            assert frame.locator("#notice").get_by_text("1 face dismissed as not a face.").count() == 1
            d, image_id, _no = keep.split("/")
            assert q(
                db, schema, "SELECT count(*) FROM {s}.dismissed_faces WHERE day = %s AND image_id = %s", d, image_id
            ) == [(1,)]
            assert frame.locator(f'input[name="face"][value="{keep}"]').count() == 0

            # "Add to someone else…": the picker, the most alike identities first, each with a face
            group = frame.locator("section.group").first
            with view_frame(page).expect_navigation(timeout=60_000):
                group.get_by_role("button", name="Add to someone else…").click()
            frame.locator("h1").get_by_text("to someone").wait_for()
            assert frame.locator(".card").count() >= 1 and get_safe(page)
            images_loaded(frame, page)
            assert view_frame(page).evaluate(wide), "horizontal scroll on the picker"
            page.screenshot(path=str(shots / "faces-unassigned-pick.png"))

            # hide Gus on his page; the grid leaves him out until "Show hidden"
            frame.get_by_role("navigation").get_by_role("link", name="People").click()
            frame.locator(f'.card[data-identity="{gus}"] a.who').click()
            frame.locator("#hide-form").wait_for()
            act(page, frame, frame.locator("#hide-form button"))
            assert frame.locator("#hidden-badge").count() == 1
            assert last_audit(db, schema)[:3] == ("hide", "ui:editor", gus)
            frame.get_by_role("navigation").get_by_role("link", name="People").click()
            frame.locator(".card").first.wait_for()
            assert frame.locator(f'.card[data-identity="{gus}"]').count() == 0
            frame.get_by_label("Show hidden").check()
            frame.get_by_role("button", name="Filter").click()
            frame.locator(f'.card[data-identity="{gus}"] .hidden-badge').wait_for()
            images_loaded(frame, page)
            page.screenshot(path=str(shots / "faces-people-hidden.png"))
            frame.locator(f'.card[data-identity="{gus}"] a.who').click()
            act(page, frame, frame.locator("#hide-form button"))  # shown again
            assert frame.locator("#hidden-badge").count() == 0

            # merge an unnamed identity into Gus, then undo it from the notice: both as they were
            others = q(
                db,
                schema,
                "SELECT i.identity_id FROM {s}.identities i WHERE i.person_id IS NULL AND i.faces > 0"
                " AND NOT EXISTS (SELECT 1 FROM {s}.face_identity x JOIN {s}.face_identity y USING (day, image_id)"
                " WHERE x.identity_id = i.identity_id AND y.identity_id = %s) ORDER BY 1 LIMIT 1",
                gus,
            )
            assert others, "no unnamed identity left to merge"
            ((other,),) = others
            before = q(
                db,
                schema,
                "SELECT identity_id, day, image_id, box_x, how FROM {s}.face_identity WHERE identity_id = ANY(%s)"
                " ORDER BY 1, 2, 3, 4",
                [gus, other],
            )
            page.goto(f"{web.url}/plugin/faces/facepipe/people/{gus}/merge?other={other}")
            frame = page.frame_locator("iframe")
            frame.locator("#merge-preview").wait_for(timeout=60_000)
            act(page, frame, frame.locator("#merge-form button"))
            assert other not in identities(db, schema)
            page.screenshot(path=str(shots / "faces-merge-undo.png"))
            act(page, frame, frame.locator("#undo-form button"))
            assert frame.locator("#notice").get_by_text(f"Merge undone: identity #{other} is back").count() == 1
            assert last_audit(db, schema)[:3] == ("unmerge", "ui:editor", other)
            after = q(
                db,
                schema,
                "SELECT identity_id, day, image_id, box_x, how FROM {s}.face_identity WHERE identity_id = ANY(%s)"
                " ORDER BY 1, 2, 3, 4",
                [gus, other],
            )
            assert after == before

            # the forget's dry run for Gus, in people's terms, light and dark; nothing forgotten
            frame.locator("a", has_text="Forget this person").click()
            frame.locator("#forget-ask button").click()
            frame.locator("#would").wait_for(timeout=60_000)
            images_loaded(frame, page)
            assert get_safe(page)
            assert view_frame(page).evaluate(wide), "horizontal scroll on the forget preview"
            page.screenshot(path=str(shots / "faces-forget-preview-light.png"), full_page=True)
            page.evaluate("() => document.documentElement.classList.add('dark')")
            view_frame(page).wait_for_function("() => document.documentElement.classList.contains('dark')")
            page.screenshot(path=str(shots / "faces-forget-preview-dark.png"), full_page=True)
            page.evaluate("() => document.documentElement.classList.remove('dark')")
            assert gus in identities(db, schema)
            browser.close()
