"""The options runtime: call-and-return skills chosen by a policy over skills (pi_T), one per env.

Public API (import from `maestro_common.options`):

``GameTracker(new_items_tracker=None)``
    Fed every observation of an episode; builds the `Snapshot` / `SkillContext` that generated code
    reads, from real game state. ``reset(obs)`` at the first observation, ``update(obs)`` after every
    env step; then ``snapshot()``, ``message``, ``kills``, ``downstairs_seen``,
    ``merchant_precondition``, ``worshipper_precondition``, ``new_items`` and
    ``context(at_skill_start, active_skill, skill_turns, random)``. Pass the env's
    ``MaestroEnv.new_items_tracker`` (reset by the env) or leave it None (the tracker keeps its own,
    reset from the first observation). How each field is read: see `tracker`.

``OptionsRuntime(skill_functions, policy, *, skill_turns, rng, new_items_tracker=None, fallback_skill="Discoverer")``
    Call-and-return over `contract.SKILL_NAMES` (indices 0..4).
    ``reset(obs) -> skill index`` starts an episode (pi_T picks the first skill);
    ``step(obs) -> skill index`` after every env step: the tracker is updated, and the active skill
    ends when (checked in this order) its generated ``termination`` holds (reason "termination"), its
    time budget in game turns is spent ("budget": Discoverer N turns, Worshipper and Merchant 20 x N,
    Descender and Ascender none), or a Merchant / Worshipper precondition APPEARS, i.e. turns from
    False to True since the previous step ("precondition"; a running Merchant is not interrupted by
    its own precondition re-appearing, nor a running Worshipper by its own). Then pi_T picks the
    next skill among those whose ``initiation`` holds (in SKILL_NAMES order). The time budget is
    checked against ``turns_since_skill_start >= budget`` (game turns, not env steps).
    ``skill_one_hot() -> float32[5]``, ``active_skill``, ``active_index``, ``timeline`` (a list of
    `SkillRecord`: skill, start/end step and turn, end reason, how it was chosen),
    ``end_episode(obs=None)`` closes the last record (reason "episode_end"; call it when the env
    reports done or truncated, instead of ``step``), ``switched`` (the last reset/step started a new
    run: count selections and durations from it), ``tracker`` (the `GameTracker`),
    ``error_counts`` / ``recent_errors`` (generated-code failures), ``decisions``.

    Rules the runtime fixes (documented, tested):
    - pi_T re-picks the skill a precondition interrupted: that skill CONTINUES (same timeline record,
      same start snapshot and time budget; ``SkillRecord.interruptions`` counts it). A flickering
      precondition therefore can neither reset a budget nor Descender's start depth. After any other
      end (termination, budget, error) a re-picked skill starts a NEW run (new record, new start).
    - ``available`` empty (every initiation False or failing): pi_T is not called; the
      ``fallback_skill`` (default Discoverer) runs, ``chosen_by="fallback"``.
    - Generated-code failures (BudgetExceeded, GeneratedCodeError, any other exception) are caught
      per call, counted in ``error_counts[kind]`` (kind = "initiation" | "termination" | "policy")
      and never propagate: a failing initiation counts as False (skill unavailable); a failing
      termination counts as True (the skill ends, reason "termination_error", and pi_T chooses
      again); a failing policy is replaced by the first available skill in SKILL_NAMES order
      (``chosen_by="policy_error"``).
    - Each generated call gets a fresh ``SkillContext``; ``ctx.random`` is drawn from ``rng`` (a
      ``numpy.random.Generator`` or ``random.Random``) for every call, so a seeded rng replays.
    - pi_T's ``state`` dict is emptied at ``reset``.
    ``OptionsRuntime.from_artifacts(skill_functions_artifact, policy_artifact, *, skill_turns, rng,
    step_limit=None, **kwargs)`` loads both through `maestro_common.generated` (the restricted
    loader; parse artifacts first with ``parse_code_artifact``).

``RandomSkillPolicy()``
    A baseline pi_T with the generated-policy signature ``(ctx, available, state) -> str``: uniform
    among ``available`` using ``ctx.random``.

``skill_time_budget(skill, skill_turns) -> int | None`` and ``SKILL_INDEX`` (name -> index).
"""

from maestro_common.options.runtime import (
    END_REASONS,
    SKILL_INDEX,
    OptionsRuntime,
    RandomSkillPolicy,
    SkillRecord,
    skill_time_budget,
)
from maestro_common.options.tracker import HUNGER_NAMES, GameTracker, count_kill_messages

__all__ = ["END_REASONS", "HUNGER_NAMES", "SKILL_INDEX", "GameTracker", "OptionsRuntime", "RandomSkillPolicy",
           "SkillRecord", "count_kill_messages", "skill_time_budget"]
