"""Labels from a sound file's own path: tokens -> an everyday category -> a short caption.

No file is labelled by hand: `label_for(path)` splits the path into words (`tokens`), looks the words up
in one keyword vocabulary (file name first, then its folders, most specific first) and writes the
category's caption with one of three templates:
- animals:     "a {noun} {sound}"   (ANIMALS: noun -> what it does)
- instruments: "a {noun} playing"   (INSTRUMENTS)
- things:      "{phrase}"           (THINGS: keyword -> a noun phrase, e.g. "rain falling")
A path with no vocabulary word (fantasy creatures, interface beeps, music tracks) gets no label and is
left out of the corpus.

Example:
    >>> label_for("audio/actor/fauna/chicken/chicken_1.ogg")
    Label(category='chicken', caption='a chicken clucking', family='animal')
    >>> label_for("Sounds/rubberduck_die.ogg").caption
    'a duck quacking'
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _table(text: str) -> dict[str, str]:
    """'key = value; key = value' lines -> {key: value} (keeps the vocabulary compact and readable)."""
    pairs = (p.split("=", 1) for line in text.splitlines() for p in line.split(";") if "=" in p)
    return {k.strip(): v.strip() for k, v in pairs}


ANIMALS: dict[str, str] = _table(
    """
    dog = barking; wolf = howling; coyote = howling; cat = meowing; lion = roaring; tiger = roaring
    bear = growling; cow = mooing; ox = lowing; bull = bellowing; sheep = bleating; goat = bleating
    pig = grunting; boar = grunting; horse = neighing; donkey = braying; camel = grunting
    elephant = trumpeting; chicken = clucking; rooster = crowing; duck = quacking; goose = honking
    bird = singing; crow = cawing; owl = hooting; seagull = crying; frog = croaking; cricket = chirping
    bee = buzzing; fly = buzzing; deer = calling; stag = bellowing; moose = calling; whale = singing
    monkey = chattering; rabbit = squeaking; fox = barking; hyena = laughing; rhino = snorting
    giraffe = snorting; zebra = braying; mouse = squeaking; bat = squeaking; snake = hissing
    crocodile = hissing; peacock = calling; parrot = squawking; fish = splashing; walrus = bellowing
    muskox = grunting; penguin = calling; turkey = gobbling; pigeon = cooing; dolphin = clicking
"""
)
INSTRUMENTS = set(
    """
    accordion bagpipe bugle cymbal drum flute gong guitar harmonica harp horn lute organ piano saxophone
    tambourine trumpet violin xylophone
""".split()
)
THINGS: dict[str, str] = _table(
    """
    rain = rain falling; thunder = thunder rumbling; wind = wind blowing; storm = a storm
    water = water splashing; splash = something splashing into water; river = a river flowing
    waterfall = a waterfall; wave = waves on a shore; sea = the sea; bubble = liquid bubbling
    drip = water dripping; droplet = water dripping; fire = a fire crackling
    campfire = a campfire crackling; flame = flames roaring; torch = a torch burning
    explosion = an explosion; explode = an explosion; fireworks = fireworks going off; car = a car engine
    engine = an engine running; train = a train passing; locomotive = a steam locomotive
    airplane = an airplane flying over; plane = a propeller plane; helicopter = a helicopter
    ship = a ship creaking at sea; boat = a boat; skid = tyres skidding; horn signal = a horn signal
    siren = a siren wailing; alarm = an alarm ringing; bell = a bell ringing; clock = a clock ticking
    tick = a clock ticking; phone = a phone ringing; door = a door opening; gate = a gate creaking
    chest = a chest opening; key = keys jingling; lock = a lock clicking; footstep = footsteps
    step = footsteps; walk = footsteps; run = someone running; jump = someone jumping
    hammer = a hammer striking; hammering = hammering; anvil = a hammer on an anvil
    smith = a blacksmith hammering metal; saw = a saw cutting wood; sawing = sawing wood
    sawmill = a sawmill; axe = an axe chopping; chop = an axe chopping wood; woodcutting = chopping wood
    tree falling = a tree falling; drill = a drill; mill = a mill turning; grind = stone grinding
    stonecutter = cutting stone; stonemason = cutting stone; pickaxe = a pickaxe striking rock
    mine = mining rock; shovel = digging; dig = digging; scythe = a scythe cutting grass
    weaving = a loom weaving; weaver = a loom weaving; furnace = a furnace roaring
    fizzle = hot metal hissing; steam = steam hissing; hiss = hissing; machine = a machine running
    motor = a motor; gun = a gunshot; gunshot = a gunshot; shotgun = a shotgun firing
    cannon = a cannon firing; mortar = a mortar firing; arrow = an arrow flying
    bow = an arrow shot from a bow; crossbow = a crossbow shot; sword = swords clashing
    spear = a spear strike; knife = a knife; whip = a whip cracking; punch = a punch; fist = a punch
    crash = a crash; break = something breaking; glass = glass breaking; shatter = glass shattering
    wood break = wood breaking; collapse = a building collapsing; rumble = a low rumble
    cave in = rocks collapsing; coin = coins clinking; gold = coins clinking; metal = metal clanging
    clang = metal clanging; ping = metal ringing; paper = paper rustling; camera = a camera shutter
    shutter = a camera shutter; click = a click; knock = knocking; pour = pouring liquid
    drink = someone drinking; eat = someone eating; meal = people eating; tavern = a busy tavern
    inn = a busy inn; crowd = a crowd; cheer = a crowd cheering; applause = applause
    laugh = someone laughing; scream = someone screaming; cough = someone coughing; groan = someone groaning
    sigh = someone sighing; kiss = a kiss; whistle = someone whistling; snore = someone snoring
    yawn = someone yawning; sneeze = someone sneezing; cry = someone crying; breath = someone breathing
    heartbeat = a heartbeat; clap = hands clapping; war drums = war drums; drums = drums beating
    fanfare = a trumpet fanfare; balloon = a balloon; inflate = something inflating
    parachute = a parachute opening; ball = a ball bouncing; bounce = a ball bouncing
    bowling = a bowling ball rolling; rope = a rope; net = a net thrown; birds = birds singing
    crickets = crickets chirping; insect = insects buzzing; night = night ambience with insects
    morning = morning ambience with birds; forest = a forest; jungle = a jungle
    construction = construction work; build = construction work; trash = a bin emptied; radio = radio static
    static = static noise; zipper = a zipper; typing = typing on a keyboard; keyboard = typing on a keyboard
    snow = walking in snow; gravel = walking on gravel; grass = walking on grass; sand = walking on sand
    mud = mud; ice = ice cracking; rock = rocks; stone = stones; wood = wood knocking; cart = a cart rolling
    footstep rock = footsteps on rock; footstep gravel = footsteps on gravel
    footstep sand = footsteps in sand; footstep grass = footsteps on grass
    footstep snow = footsteps in snow; footstep wood = footsteps on wood; footstep mud = footsteps in mud
    footstep water = footsteps in water; male death = a man crying out in pain
    female death = a woman crying out in pain; mine stone = a pickaxe striking stone
    sling = a sling throwing a stone; field = harvesting grain; meat = butchering meat
    lumber = chopping wood; fruit = picking fruit; wheel = wheels rolling; slide = something sliding
    lava = lava bubbling; thud = a heavy thud; splat = a wet splat; squish = something squishing
    trampoline = a trampoline; typewriter = a typewriter; rocket = a rocket launching
    harbor = a busy harbour; pottery = a potter's wheel; roar = a beast roaring; sizzle = something sizzling
    firecracker = firecrackers; blacksmith = a blacksmith hammering metal; farm = farm animals
    rail = a train passing; chariot = a chariot; catapult = a catapult; ram = a battering ram
"""
)
ALIASES: dict[str, str] = _table(
    """
    hen = chicken; chickens = chicken; hog = pig; pup = dog; puppy = dog; kitten = cat; doggy = dog
    wolves = wolf; horses = horse; cows = cow; rubberduck = duck; cock = rooster; songbird = bird
    seagulls = seagull; gull = seagull; footsteps = footstep; steps = step; explosions = explosion
    expl = explosion; boom = explosion; canter = horse; gallop = horse; neigh = horse; moo = cow; bark = dog
    woof = dog; meow = cat; quack = duck; chirp = bird; tweet = bird; thunderstorm = storm
    blowtorch = flame; flamethrower = flame; torches = torch; shotgunfire = shotgun; minigun = gun
    lightning = thunder; chopping = chop; swords = sword; arrows = arrow; bells = bell; doors = door
    fs = footstep; cattle = cow; treeexpire = tree falling; coins = coin; lathe = machine
"""
)
# one category per caption: keys that share a phrase ("step", "walk") are one category, the first key
_CANON: dict[str, str] = {}
for _key, _phrase in THINGS.items():
    _CANON.setdefault(_phrase, _key)
STOP = {"audio", "sound", "sounds", "sfx", "data", "usr", "share", "games", "ogg", "wav", "oga", "the", "a"}


@dataclass(frozen=True)
class Label:
    """A category id, its caption, and which template wrote it (animal / instrument / thing)."""

    category: str
    caption: str
    family: str


def _singular(word: str) -> str:
    if word in THINGS or word in ANIMALS or word in ALIASES or len(word) < 4:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def tokens(path: str) -> list[str]:
    """Lower-case words of a path: camelCase and separators split, digits and extensions dropped.

    Example:
        >>> tokens("tracks/black_forest/steamLocomotive_02.ogg")
        ['tracks', 'black', 'forest', 'steam', 'locomotive']
    """
    stem = re.sub(r"\.[A-Za-z0-9]{2,4}$", "", path)
    out: list[str] = []
    for part in re.split(r"[/\\_\-. ]+", stem):
        for word in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", part):
            w = word.lower()
            if w not in STOP and len(w) > 1:
                out.append(w)
    return out


def _lookup(word: str) -> Label | None:
    word = ALIASES.get(word, word)
    if word in ANIMALS:
        return Label(word, f"a {word} {ANIMALS[word]}", "animal")
    if word in INSTRUMENTS:
        return Label(word, f"a {word} playing", "instrument")
    if word in THINGS:
        return Label(_CANON[THINGS[word]], THINGS[word], "thing")
    return None


def label_for(path: str) -> Label | None:
    """The label of a sound file from its path, or None when no vocabulary word is in it.

    Words are tried from the end of the path (file name first); a two-word key ("tree falling")
    wins over its single words.
    """
    words = [ALIASES.get(_singular(w), _singular(w)) for w in tokens(path)]
    for i in range(len(words) - 1, -1, -1):
        if i > 0:
            pair = _lookup(f"{words[i - 1]} {words[i]}")
            if pair is not None:
                return pair
        hit = _lookup(words[i])
        if hit is not None:
            return hit
    return None
