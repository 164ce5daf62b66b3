"""MaestroEnv on real NetHack games: seeding, options, message hiding, prompts and macros."""

from __future__ import annotations

import numpy as np
import pytest

from maestro_common.errors import FailedPrecondition, InvalidArgument
from maestro_common.nethack.actions import (
    ACTION_KEYS,
    ACTION_NAMES,
    COMPASS,
    NUM_ACTIONS,
    Action,
    ctrl,
    meta,
)
from maestro_common.nethack.env import EnvConfig, MaestroEnv, derive_seeds, make_env
from maestro_common.nethack.features import inventory, message_text
from maestro_common.nethack.policies import RandomMacroPolicy

OPPOSITE = {
    Action.N: Action.S, Action.S: Action.N, Action.E: Action.W, Action.W: Action.E,
    Action.NE: Action.SW, Action.SW: Action.NE, Action.NW: Action.SE, Action.SE: Action.NW,
}


@pytest.fixture
def env():
    environment = make_env()
    yield environment
    environment.close()


def wish(env: MaestroEnv, text: str) -> None:
    """Wizard-mode wish (^W) for `text`."""
    env.send_keys([ctrl("w")] + [ord(c) for c in text] + [ord("\r")])


def play(env: MaestroEnv, seed: int, steps: int) -> list[dict[str, np.ndarray]]:
    """Copies of the observations of `steps` seeded random actions (over all 28 actions)."""
    policy = RandomMacroPolicy(1234)
    frames = [{k: v.copy() for k, v in env.reset(seed).items()}]
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(policy.act(None))
        frames.append({k: v.copy() for k, v in obs.items()})
        if terminated or truncated:
            break
    return frames


def test_action_set_is_the_papers_28_in_order(env):
    assert env.num_actions == NUM_ACTIONS == 28
    assert env.action_names[:9] == ("more", "n", "e", "s", "w", "ne", "se", "sw", "nw")
    assert env.action_names[17:] == (
        "up", "down", "wait", "kick", "eat", "search", "cast", "enhance", "pray", "quaff", "drop",
    )
    assert "".join(chr(ACTION_KEYS[a]) for a in range(1, 17)) == "kljhunbyKLJHUNBY"
    assert ACTION_NAMES == env.action_names


def test_one_seed_gives_identical_games_and_two_seeds_differ():
    first, second = make_env(), make_env()
    try:
        a = play(first, 7, 200)
        # A different episode in between must not leak into the next one.
        play(second, 99, 20)
        b = play(second, 7, 200)
        assert len(a) == len(b) > 100
        for step, (x, y) in enumerate(zip(a, b)):
            for key in x:
                assert np.array_equal(x[key], y[key]), f"step {step}: {key} differs"
        c = play(second, 8, 200)
        assert any(
            not np.array_equal(x["chars"], z["chars"]) for x, z in zip(a, c)
        ), "seeds 7 and 8 gave the same game"
    finally:
        first.close()
        second.close()


def test_reset_seeds_nethack_core_and_disp_without_reseeding(env):
    env.reset(42)
    core, disp = derive_seeds(42)
    assert env.nethack_seeds == (core, disp, False)
    assert derive_seeds(42) != derive_seeds(43)
    with pytest.raises(InvalidArgument):
        env.reset(-1)


def test_character_is_a_neutral_male_human_monk_without_a_pet():
    for pet in (False, True):
        env = make_env(EnvConfig(pet=pet, hide_messages=(),
                                 observation_keys=("chars", "screen_descriptions")))
        try:
            obs = env.reset(5)
            assert "neutral male human Monk" in message_text(obs)
            descriptions = obs["screen_descriptions"].tobytes()
            assert (b"tame " in descriptions) is pet
        finally:
            env.close()


def test_wizard_mode_keeps_the_character():
    env = make_env(EnvConfig(wizard=True, hide_messages=()))
    try:
        assert "neutral male human Monk" in message_text(env.reset(5))
    finally:
        env.close()


def walk_back_onto(env: MaestroEnv) -> str:
    """Steps off the hero's square and back; returns the message on arrival."""
    for action in COMPASS:
        before = (env.status().x, env.status().y)
        env.step(action)
        if (env.status().x, env.status().y) != before:
            obs, *_ = env.step(OPPOSITE[action])
            return message_text(obs)
    raise AssertionError("the hero cannot move")


@pytest.mark.parametrize("hidden", [True, False])
def test_you_see_messages_are_hidden(hidden):
    patterns = EnvConfig().hide_messages if hidden else ()
    env = make_env(EnvConfig(wizard=True, spawn_monsters=False, hide_messages=patterns))
    try:
        env.reset(5)
        wish(env, "2 daggers")  # not a pickup type: they stay on the floor when walked over
        obs, *_ = env.step(Action.DROP)
        assert message_text(obs) == "You drop 2 daggers."
        arrival = walk_back_onto(env)
        assert ("You see here 2 daggers." in arrival) is not hidden, arrival
    finally:
        env.close()


def test_autopickup_takes_the_papers_classes_only():
    env = make_env(EnvConfig(wizard=True, spawn_monsters=False))
    try:
        env.reset(5)
        wanted = ["scroll of light", "potion of water", "wand of striking", "dagger", "ruby ring"]
        for text in wanted:
            wish(env, text)
        for item in env.new_items():
            env.send_keys([ord("d"), ord(item.letter)])
        assert env.new_items() == []
        walk_back_onto(env)
        kept = sorted(i.oclass for i in env.new_items())
        from nle import nethack
        assert kept == sorted([nethack.SCROLL_CLASS, nethack.POTION_CLASS, nethack.WAND_CLASS])
    finally:
        env.close()


def test_yes_no_questions_go_to_the_agent(env):
    env.reset(3)
    obs, *_ = env.step(Action.PRAY)
    assert message_text(obs).startswith("Are you sure you want to pray?")
    assert obs["misc"][0] == 1
    obs, *_ = env.step(Action.SE)  # 'n'
    assert obs["misc"].tolist() == [0, 0, 0]
    assert env.status().turn == 1


def test_kick_asks_the_agent_for_a_direction(env):
    env.reset(3)
    obs, *_ = env.step(Action.KICK)
    assert message_text(obs) == "In what direction?"
    obs, *_ = env.step(Action.W)
    assert obs["misc"].tolist() == [0, 0, 0]


def test_quaff_drinks_the_first_potion_offered(env):
    env.reset(3)
    potions = [i for i in inventory(env.observation) if "potions of healing" in i.name]
    assert potions and potions[0].name.startswith("3 ")
    obs, *_ = env.step(Action.QUAFF)
    assert obs["misc"].tolist() == [0, 0, 0]
    after = [i.name for i in inventory(obs) if i.letter == potions[0].letter]
    assert after and after[0].startswith("2 "), after


def test_eat_answers_the_first_food_offered(env):
    env.reset(3)
    obs, *_ = env.step(Action.EAT)
    assert obs["misc"].tolist() == [0, 0, 0]
    assert "What do you want to eat" not in message_text(obs)
    assert env.status().turn > 1  # eating took game time


def test_wait_searches_25_times():
    env = make_env(EnvConfig(spawn_monsters=False))
    try:
        env.reset(4)  # no monster nearby to interrupt
        env.step(Action.WAIT)
        assert env.status().turn >= 15  # 25 actions of a fast Monk
    finally:
        env.close()


def test_cast_leaves_no_menu_open(env):
    env.reset(3)
    obs, *_ = env.step(Action.CAST)
    assert obs["misc"][2] == 0  # no menu or --More-- left
    obs, *_ = env.step(Action.ENHANCE)
    assert obs["misc"][2] == 0


def test_drop_drops_the_first_new_item_or_nothing():
    env = make_env(EnvConfig(wizard=True, spawn_monsters=False))
    try:
        env.reset(5)
        start = [i.name for i in inventory(env.observation)]
        obs, *_ = env.step(Action.DROP)
        assert message_text(obs) == "Never mind."
        assert [i.name for i in inventory(obs)] == start
        wish(env, "2 daggers")
        assert [i.name for i in env.new_items()] == ["2 daggers"]
        obs, *_ = env.step(Action.DROP)
        assert message_text(obs) == "You drop 2 daggers."
        assert env.new_items() == []
        assert [i.name for i in inventory(obs)] == start
    finally:
        env.close()


def test_truncation_and_reset_required():
    env = make_env(EnvConfig(max_episode_steps=5))
    try:
        with pytest.raises(FailedPrecondition):
            env.step(Action.N)
        env.reset(1)
        flags = [env.step(Action.SEARCH)[3] for _ in range(5)]
        assert flags == [False] * 4 + [True]
        with pytest.raises(FailedPrecondition):
            env.step(Action.N)
        env.reset(2)
        env.step(Action.N)
    finally:
        env.close()


def test_quitting_runs_the_end_of_game_screens(env):
    env.reset(3)
    env.send_keys([meta("q"), ord("y")])
    with pytest.raises(FailedPrecondition):
        env.step(Action.N)
    env.reset(3)  # a new game starts normally


def test_config_is_validated():
    with pytest.raises(InvalidArgument):
        EnvConfig(max_episode_steps=0)
    with pytest.raises(InvalidArgument):
        EnvConfig(observation_keys=("chars", "nonsense"))


def test_you_see_and_you_hear_never_show_in_long_games():
    from maestro_common.nethack.dataset import play_episode

    def hidden_kinds(hide: tuple[str, ...]) -> set[str]:
        kinds = set()
        for seed in (9, 13):  # games with guards, vaults and objects lying around
            table = play_episode(EnvConfig(hide_messages=hide), "random", seed, "x", max_steps=3000)
            for message in table.column("message").to_pylist():
                kinds |= {k for k in ("You see", "You hear") if k in message}
        return kinds

    assert hidden_kinds(()) == {"You see", "You hear"}  # these games do produce both
    assert hidden_kinds(EnvConfig().hide_messages) == set()


def test_config_file_carries_the_hide_rules():
    from maestro_common.nethack.env import config_file_text, nethack_options

    text = config_file_text(nethack_options(EnvConfig()), EnvConfig().hide_messages)
    assert 'MSGTYPE=hide "^You see"' in text and 'MSGTYPE=hide "^You hear"' in text
    options = text.splitlines()[0]
    assert "pettype:none" in options and "pickup_types:$/%?!" in options
    assert "role:mon" in options and "align:neu" in options
