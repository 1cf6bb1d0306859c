"""Lesson: the shipped lesson and the teacher's own, scene by scene; start one, open any scene, save
the page you came from as a scene, reorder, download and upload (diffusion/lesson.py's JSON)."""

import streamlit as st

from diffusion import lesson as engine
from pages._app import lesson, status

status.page_state()
ss = st.session_state

st.title("Lesson")
st.caption(
    "A lesson is a sequence of scenes: each opens a page with saved settings (and a model, and the frame its "
    "animation starts at) under two or three sentences. Step through them with Previous and Next above each page, "
    "or the keys ← and →. Each scene has its own link (?lesson=paper&scene=3); add &projector=1 for projector mode."
)

message = ss.pop(lesson.MESSAGE, None)
if message is not None:
    kind, text = message
    {"success": st.success, "error": st.error, "info": st.info}[kind](text)

names = list(lesson.SHIPPED) + ([lesson.OWN] if ss.get(lesson.OWN_KEY) is not None else [])
if ss.get("lesson_pick") not in names:
    ss["lesson_pick"] = names[0]
name = st.radio(
    "Lesson",
    options=names,
    format_func=lesson.lesson_label,
    horizontal=True,
    key="lesson_pick",
    persist_state="session",
)
shown = lesson.lesson_named(name)
own = name == lesson.OWN
now = lesson.active()

b1, b2, b3, _ = st.columns([1.3, 1.6, 1.6, 2])
b1.button(
    "Start at scene 1",
    key="lesson_start",
    type="primary",
    icon=":material/play_arrow:",
    on_click=lesson.start,
    args=(name, 0),
    disabled=not shown.scenes,
    width="stretch",
)
if not own:
    b2.button(
        "Make an editable copy",
        key="lesson_copy",
        icon=":material/content_copy:",
        on_click=lesson.copy_to_own,
        args=(name,),
        width="stretch",
        help="Your own lesson, starting as a copy of this one: reorder, delete and add scenes. "
        "It replaces your lesson, if you have one (you can bring that back).",
    )
b3.button(
    "Start an empty lesson",
    key="lesson_new",
    icon=":material/add:",
    on_click=lesson.new_own,
    width="stretch",
    help="Your own lesson with no scenes yet: set a page up, come back here, and save it as a scene.",
)
if ss.get(lesson.REPLACED) is not None:
    st.button(
        f"Bring back your previous lesson ({lesson.md(ss[lesson.REPLACED].title)})",
        key="lesson_back",
        icon=":material/undo:",
        on_click=lesson.bring_back,
    )

if own:
    if ss.get("_lesson_title_shown") != shown.title:  # a new own lesson (an upload, a copy): its title
        ss["lesson_own_title"] = ss["_lesson_title_shown"] = shown.title
    st.text_input(
        "Title of your lesson",
        max_chars=engine.TITLE_MAX,
        key="lesson_own_title",
        on_change=lesson.retitle_own,
    )
st.subheader(shown.title if shown.scenes else f"{shown.title}: no scenes yet")
for i, scene in enumerate(shown.scenes):
    playing = now is not None and now[0] == name and now[2] == i
    with st.container(border=True, key=f"lesson_scene_{i}"):
        cols = st.columns([8, 1.2, 0.6, 0.6, 0.6] if own else [8, 1.2], vertical_alignment="center")
        cols[0].markdown(f"**{i + 1}. {lesson.md(scene.title)}**" + (" · *shown now*" if playing else ""))
        cols[0].caption(lesson.describe(scene))
        cols[1].button(
            "Open", key=f"lesson_open_{i}", on_click=lesson.start, args=(name, i), width="stretch", help=scene.text
        )
        if own:
            cols[2].button(
                "", key=f"lesson_up_{i}", icon=":material/arrow_upward:", on_click=lesson.edit_own,
                args=("up", i), disabled=i == 0, help="Move this scene up",
            )  # fmt: skip
            cols[3].button(
                "", key=f"lesson_down_{i}", icon=":material/arrow_downward:", on_click=lesson.edit_own,
                args=("down", i), disabled=i == len(shown.scenes) - 1, help="Move this scene down",
            )  # fmt: skip
            cols[4].button(
                "", key=f"lesson_delete_{i}", icon=":material/delete:", on_click=lesson.edit_own,
                args=("delete", i), help="Delete this scene (you can bring the lesson back)",
            )  # fmt: skip

st.subheader("Save a page as a scene")
last = ss.get(lesson.LAST_PAGE, "overview")
here = lesson.current_settings()
st.caption(
    f"Saves the page you came from, **{lesson.PAGE_TITLES[last]}**, as it is now: "
    + (lesson.md(", ".join(f"{k} = {v}" for k, v in here.items())) if here else "every setting at its default")
    + f"; model: {lesson.current_model_word()}"
    + (" (a scene cannot carry a model you trained or uploaded: it shows whichever model is current)" if
       lesson.current_model_word() == engine.KEEP else "")
    + ". It becomes the last scene of your lesson."
)  # fmt: skip
with st.form("lesson_add", clear_on_submit=False, border=True):
    st.text_input("Title", max_chars=engine.TITLE_MAX, key="lesson_new_title")
    st.text_area(
        "Text: two or three sentences (Markdown)", max_chars=engine.TEXT_MAX, key="lesson_new_text", height=100
    )
    f1, f2 = st.columns([1.4, 1])
    f1.checkbox(
        "Open the animation at a given t",
        key="lesson_new_use_t",
        disabled=last not in lesson.ANIMATIONS,
        help="For the Forward and Reverse pages: the frame the animation shows first.",
    )
    f2.number_input("t", min_value=0, max_value=engine.T_MAX, value=0, step=1, key="lesson_new_t")
    st.form_submit_button("Add as a scene", icon=":material/add:", on_click=lesson.add_scene, type="primary")

st.subheader("Download or upload a lesson")
d1, d2 = st.columns([1, 2])
d1.download_button(
    "Download this lesson (JSON)",
    data=lesson.download_bytes(shown) if shown.scenes else b"",
    file_name=f"lesson_{name}.json",
    mime="application/json",
    on_click="ignore",
    key="lesson_download",
    disabled=not shown.scenes,
    icon=":material/download:",
)
d2.file_uploader(
    f"Upload a lesson (JSON, at most {engine.MAX_BYTES // 1024} KB)",
    type=["json"],
    key=lesson.UPLOAD_KEY,
    on_change=lesson.on_upload,
    max_upload_size=1,
    help="A file downloaded here. It is checked whole (its format, every scene's page, settings and model) "
    "before it becomes your lesson; nothing in it runs, and no scene opens until you start the lesson.",
)
