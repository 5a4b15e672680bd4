"""Making an assistant: fine-tuning, rankings under written instructions, a reward model, RLHF beside DPO."""

from functools import partial

import streamlit as st

from lab_ui import assistant_jobs as aj
from lab_ui import assistant_results as show
from lab_ui import assistant_teach as teach
from lab_ui import course, predict, state
from lab_ui.assistant_rank import ranking_desk
from lab_ui.shell import ensure_app_shell
from llm_core.alignment.assistant import (
    DPOStage,
    RewardStage,
    RLHFStage,
    SFTStage,
    base_warning,
    dpo_config,
    reward_config,
    rlhf_config,
    sft_config,
)
from llm_core.alignment.tasks import make_examples
from llm_core.model.config import ConfigError
from llm_core.text.tokenizers import TokenizerError

ensure_app_shell()  # a deep link to this page on a fresh server must still get app.py's shell
SFT_JOB, RM_JOB, RL_JOB, DPO_JOB = "assistant_sft", "assistant_rm", "assistant_rlhf", "assistant_dpo"
ERRORS = (ConfigError, TokenizerError, ValueError)

course.chapter_intro("assistant")
teach.intro()
aj.restore()  # a reload finds the finished stages on the desk (before `collect`, whose callbacks may replace them)
aj.jobs.collect()
entry = state.current()
st.caption(f"Fine-tuning starts from the current model: **{entry.name}** ({entry.model.num_params():,} parameters, {entry.tokenizer.kind} tokenizer). Choose another in the sidebar.")
if (weak := base_warning(entry.record)) is not None:
    st.warning(f"{entry.name} looks weak: {weak}")

# ---------------------------------------------------------------- 1. data
st.header("1 · Instruction data")
if "as_examples" not in st.session_state:  # (a reload has the desk's, restored above: the pairs the learner chose)
    aj.keep("as_examples", make_examples())
examples = st.session_state.as_examples
show.data_summary(examples)
show.pairs_editor(examples)
show.rendered_pair(entry.tokenizer)

# ---------------------------------------------------------------- 2. SFT
st.header("2 · Supervised fine-tuning (SFT)")
st.markdown(
    "The model is trained, with the same loop as pre-training, to predict the response tokens only. Characters the base model never saw "
    "and the three chat tokens get new rows in its embedding table. Every weight is updated, so fine-tuning can also overwrite what the model "
    "knew: once it has run, the loss on the base model's own held-out text is measured before and after."
)


SAME_SFT_NOTE = ("This fine-tuning gave exactly the same weights as before (same model, data and settings): "
                 "your rankings and later stages are kept.")


def same_weights(a, b) -> bool:
    """Whether two models hold the very same weights (a second fine-tuning with the same settings gives them)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape and bool((sa[k] == sb[k]).all()) for k in sa)


def sft_done(stage, job, snap):
    if job.result is not None:
        name = state.add_model(f"{stage.base_name} · SFT", job.result.model, job.result.tokenizer, job.result.meta, source="fine-tuned", make_current=False) or f"{stage.base_name} · SFT"
        old = st.session_state.get("as_sft")
        if old is not None and old[0] == name and same_weights(old[2].model, job.result.model):
            st.session_state.as_sft_same = True  # the stages built on it still hold: keep them, and say so here (the sidebar may be collapsed)
            return
        st.session_state.pop("as_sft_same", None)
        aj.keep("as_sft", (name, stage, job.result))
        for key in ("as_rm", "as_rlhf", "as_rlhf_weak", "as_dpo", "as_candidates"):
            aj.drop(key)
        aj.keep("as_ratings", [])  # the ranking desk appends to this very list, so the desk's copy follows


c1, c2, c3 = st.columns(3)
sft_steps = c1.number_input("Steps", 10, 20_000, 600, 50, key="as_sft_steps")
teach.sft_prediction()
sft_lr = c2.select_slider("Learning rate", [3e-4, 1e-3, 2e-3, 4e-3, 1e-2, 10.0], value=2e-3, key="as_sft_lr")
sft_batch = c3.select_slider("Batch size", [4, 8, 16, 32, 64], value=32, key="as_sft_batch")


def tuned_model_done(model_name: str, key: str, stage, job, snap):
    """A tuning stage ended: its model joins the list (not made current) and the stage is kept under `key`."""
    if job.result is not None:
        state.add_model(model_name, job.result.model, job.result.tokenizer, job.result.meta, source="fine-tuned", make_current=False)
        aj.keep(key, stage)


def rlhf_done(model_name: str, stage, job, snap):
    """RLHF ended: as any tuning stage, and a run on a weak leash is also kept for the leash prediction."""
    tuned_model_done(model_name, "as_rlhf", stage, job, snap)
    if job.result is not None and stage.cfg.kl_coef <= teach.WEAK_LEASH:
        aj.keep("as_rlhf_weak", stage)


def start_sft():
    try:
        cfg = sft_config(max_steps=int(sft_steps), lr=float(sft_lr), muon_lr=sft_config().muon_lr_for(float(sft_lr)), batch_size=int(sft_batch), eval_every=max(1, int(sft_steps) // 4))
        stage = SFTStage(entry.model, entry.tokenizer, st.session_state.as_examples, cfg, base_name=entry.name, base_record=entry.record,
                         parent_lineage=state.entry_lineage(entry))
    except ERRORS as exc:
        st.session_state.as_sft_message = f"Fine-tuning cannot start: {exc}"
        return
    st.session_state.pop("as_sft_same", None)
    aj.start(SFT_JOB, stage, f"Fine-tuning {entry.name}", partial(sft_done, stage))


aj.controls(SFT_JOB, "Fine-tune", start_sft, "as_sft")
aj.live_curves(SFT_JOB, [([("train_loss", "train loss (responses)"), ("val_loss", "held-out loss")], "Fine-tuning loss")], "as_sft_chart")
if st.session_state.get("as_sft_same"):
    st.info(SAME_SFT_NOTE)
if (sft := st.session_state.get("as_sft")) and predict.made("assistant_sft_format"):
    show.sft_summary(*sft)
elif sft:  # its sampled answers would give the prediction away
    st.info("Fine-tuning has finished. Lock in your guess above to see what it measured.")

# ---------------------------------------------------------------- 3. rankings
st.header("3 · Rankings, by written instructions")
if sft := aj.needs("as_sft", "Fine-tune first: the answers to rank are sampled from the fine-tuned model."):
    ranking_desk(sft[2], sft[1])

# ---------------------------------------------------------------- 4. reward model
st.header("4 · A reward model learns the rankings")
if sft := aj.needs("as_sft", "Fine-tune and rank first."):
    name, stage, result = sft
    ratings = st.session_state.get("as_ratings", [])
    st.markdown(
        "The fine-tuned transformer with a head that gives one number, its reward r, for a whole answer. It is trained so that the preferred answer of "
        "each ranked pair scores higher, with the pairwise loss −log σ(r(preferred) − r(other)), where σ, the sigmoid, turns the difference of two "
        "rewards into the probability that the first is preferred. A quarter of the rankings is held out to test it."
    )
    teach.reward_prediction(ratings)

    def rm_done(rm_stage, job, snap):
        if job.result is not None:
            aj.keep("as_rm", job.result)

    def start_rm():
        try:
            rm_stage = RewardStage(result, list(st.session_state.get("as_ratings", [])), reward_config())
        except ERRORS as exc:
            st.session_state.as_rm_message = str(exc)
            return
        aj.start(RM_JOB, rm_stage, "Training the reward model", partial(rm_done, rm_stage))

    aj.controls(RM_JOB, "Train the reward model", start_rm, "as_rm", blocked=len(ratings) < 4)
    if len(ratings) < 4:
        st.caption("Rank at least 4 pairs; with fewer than about 100 the held-out test cannot tell a good reward model from chance.")
    aj.live_curves(RM_JOB, [([("train_loss", "pairwise loss"), ("extras.accuracy", "batch accuracy")], "Reward model training")], "as_rm_chart")
    if (rm := st.session_state.get("as_rm")) and predict.made("assistant_reward_style"):
        show.reward_summary(rm)
    elif rm:  # its held-out scores would give the prediction away
        st.info("The reward model has finished. Lock in your guess above to see what it measured.")

# ---------------------------------------------------------------- 5. RLHF
st.header("5 · RLHF (reinforcement learning from human feedback)")
if sft := aj.needs("as_sft", "Fine-tune first."):
    st.markdown(
        "Each step the policy (the model being tuned, a copy of the fine-tuned one) samples several answers to each of a few requests from the same pool as the rankings; "
        "the reward model scores them; an answer scored above its request's average is made more likely and one below less likely. That is REINFORCE with a group "
        "baseline, as GRPO does; InstructGPT used PPO instead (The details, at the top, say why this is simpler). The leash is a KL penalty (KL, for Kullback and "
        "Leibler: how far the policy's word probabilities have moved from the fine-tuned model's), weighted by the KL coefficient. The third curve is judged "
        "by the written instructions, not by the reward model."
    )
    teach.leash_prediction()  # before the reward-model gate: DPO's task accuracy waits for this guess too, with or without a reward model
if sft and (rm := aj.needs("as_rm", "Train a reward model first: RLHF optimises against it.")):
    name, stage, result = sft
    if rm.at_chance:
        st.warning("The reward model is at chance on held-out pairs: optimising against it optimises noise.")
    c1, c2, c3 = st.columns(3)
    kl_coef = c1.select_slider("KL coefficient (leash)", list(teach.KL_CHOICES), value=rlhf_config().kl_coef, key="as_rl_kl")
    rl_lr = c2.select_slider("Learning rate", [3e-5, 1e-4, 3e-4, 1e-3], value=rlhf_config().lr, key="as_rl_lr")
    rl_steps = c3.number_input("RLHF steps", 2, 1000, rlhf_config().max_steps, 10, key="as_rl_steps")


    def start_rl():
        try:
            cfg = rlhf_config(kl_coef=float(kl_coef), lr=float(rl_lr), max_steps=int(rl_steps), eval_every=max(1, int(rl_steps) // 6))
            rl_stage = RLHFStage(result, rm, stage.prompts, stage.held_out, stage.assessment, stage.passes, cfg)
        except ERRORS as exc:
            st.session_state.as_rl_message = str(exc)
            return
        aj.start(RL_JOB, rl_stage, "RLHF", partial(rlhf_done, f"{name} · RLHF", rl_stage))

    aj.controls(RL_JOB, "Run RLHF", start_rl, "as_rl")
    aj.live_curves(RL_JOB, [([("extras.reward", "mean reward-model score")], "Reward"), ([("extras.kl", "KL(policy ‖ fine-tuned), nats per answer")], "KL to the fine-tuned model"),
                            ([("extras.held_out_preferred", "held-out, preferred by the instructions")], "Held-out, judged by the rule")], "as_rl_chart")
    if rl := st.session_state.get("as_rlhf"):
        # what it did to task accuracy answers the leash prediction, and why (the reward model pays for the style) the reward one
        if (wait := teach.accuracy_wait("RLHF", ("assistant_weak_leash", "assistant_reward_style"))) is None:
            teach.hacking_warning("RLHF", rl, reinforcement=True)
        else:
            st.info(wait)
        show.overoptimisation_warning(rl.history)

# ---------------------------------------------------------------- 6. DPO
st.header("6 · DPO (direct preference optimisation) on the same rankings")
if sft := aj.needs("as_sft", "Fine-tune and rank first."):
    name, stage, result = sft
    st.markdown(
        "DPO skips the reward model and the sampling: it makes the preferred answer of each ranked pair more likely than the other, relative to the frozen "
        "fine-tuned model. β (the Greek letter beta) sets the leash: higher keeps it closer. A likelihood term on the preferred answers keeps them probable, "
        "as in RPO (reasoning preference optimisation)."
    )
    c1, c2 = st.columns(2)
    beta = c1.select_slider("β (leash: higher stays closer)", list(teach.BETA_CHOICES), value=0.1, key="as_beta")
    dpo_lr = c2.select_slider("Learning rate", [3e-5, 1e-4, 3e-4, 1e-3], value=dpo_config().lr, key="as_dpo_lr")


    def start_dpo():
        try:
            d_stage = DPOStage(result, list(st.session_state.get("as_ratings", [])), stage.held_out, stage.assessment, stage.passes, float(beta), dpo_config(lr=float(dpo_lr)))
        except ERRORS as exc:
            st.session_state.as_dpo_message = str(exc)
            return
        aj.start(DPO_JOB, d_stage, "DPO", partial(tuned_model_done, f"{name} · DPO", "as_dpo", d_stage))

    aj.controls(DPO_JOB, "Run DPO", start_dpo, "as_dpo")
    dpo_charts = [([("extras.margin", "preference margin")], "Preference margin"), ([("extras.kl", "KL(tuned ‖ fine-tuned), nats per token")], "KL to the fine-tuned model")]
    aj.live_curves(DPO_JOB, dpo_charts, "as_dpo_chart")
    if (dpo := st.session_state.get("as_dpo")) is not None:
        if (wait := teach.accuracy_wait("DPO", ("assistant_weak_leash",))) is None:
            teach.hacking_warning("DPO", dpo, reinforcement=False)
        else:
            st.info(wait)

# ---------------------------------------------------------------- 7. compare
st.header("7 · SFT, RLHF and DPO, measured")
if sft := aj.needs("as_sft", "Fine-tune first; each stage then appears here and in your model list (sidebar), for every chapter."):
    name, stage, result = sft
    tuned = {label: s for label, s in (("RLHF", st.session_state.get("as_rlhf")), ("DPO", st.session_state.get("as_dpo"))) if s is not None and s.after is not None}
    if not tuned:
        st.info("Run RLHF or DPO to compare it with the fine-tuned model here.")
    else:
        show.comparison_table(stage.assessment, tuned, accuracy=predict.made("assistant_weak_leash") is not None)
        show.pass_at_k(stage.passes, tuned)
    models = {"SFT": (result.model, result.tokenizer)} | {label: (s.policy if label == "RLHF" else s.pair.policy, result.tokenizer) for label, s in tuned.items()}
    show.try_a_prompt(models, stage.probe[:8])

# ---------------------------------------------------------------- 8. compute
st.header("8 · Fine-tuning is cheap next to pre-training")
if sft := aj.needs("as_sft", "Fine-tune first: its compute is then set beside the pre-training of the model it started from, and beside published runs."):
    st.markdown("Training compute counted in FLOPs (floating-point operations: one multiplication or addition each), from the tokens each run processed; "
                "your runs' seconds are measured on this machine.")
    teach.compute_section(sft, st.session_state.get("as_rm"), st.session_state.get("as_rlhf"), st.session_state.get("as_dpo"))

course.chapter_end("assistant")
