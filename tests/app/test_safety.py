"""AppTest: what one session does never costs it (or the server) its work: a worse run does not
replace a better model, bad URLs never raise, messages say what happened."""

from app_helpers import start_tiny_run, wait_for_job

from pages._app.models import SHIPPED_ID


def no_exceptions(app) -> None:
    assert not app.exception, [e.value for e in app.exception]


def test_a_diverging_run_keeps_the_shipped_model_current(at):
    start_tiny_run(at, lr=100.0)
    status = wait_for_job(at)
    no_exceptions(at)
    assert status.diverged
    assert at.session_state["model"].id == SHIPPED_ID
    warnings = [w.value for w in at.warning]
    assert any("is worse than the current one" in w and "which stays" in w and "download it" in w for w in warnings), (
        warnings
    )
    assert at.button(key="use_rejected")  # and the run's weights are on offer
    rejected = at.session_state["_job_holder"].rejected
    assert rejected is not None and rejected.id.key == at.session_state["_job_holder"].uid
    assert any(m.id == rejected.id for m in at.session_state["earlier_models"])
    at.button(key="use_rejected").click().run()
    no_exceptions(at)
    assert at.session_state["model"].id == rejected.id
