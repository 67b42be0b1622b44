"""Is a prompt English?  A cheap check for `[enhance] mode = "translate"`, no model involved.

Words are counted against two short lists of function words: English ones, and those of the
languages people here write most (Italian, Spanish, French, German, Portuguese) that are not
English words too.  A prompt is taken as not English when the other list wins, when it has
accented words and no English function word, or when most of its letters are outside the Latin
alphabet (Cyrillic, Greek, CJK, Arabic …).  A prompt of bare nouns ("gatto surf") has nothing to
tell by and passes as English: the check errs towards leaving people's words alone.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH = _words(
    """a an the of and or with without in on at to from by for into onto over under above below
    through while as is are was were be being been it its he she his her they their them this that
    these those there who which what where when how not no very his one two some all each near
    behind beside between across around up down out off has have had does do"""
)
_OTHER = _words(
    """il lo gli uno una di del della dello dei degli delle che fa con per nel nella sul sulla
    sono è e ed anche molto questo questa mentre sotto sopra tra fra alla allo al dal dalla ma
    el los las por para que y con sobre muy esta este está en unos unas del se al
    le les des du une est et avec dans pour sur qui au aux sous très ce cette son sa ses
    der das und ist ein eine einen einem mit auf im dem den nicht zu einer unter über vom zum
    os um uma com não na em ao muito da dos das pelo pela"""
)
OTHER = _OTHER - ENGLISH
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
LATIN_END = 0x24F  # the end of Latin Extended-B: letters past it are another script


def looks_english(text: str) -> bool:
    """True unless the prompt gives some sign of being in another language (module docstring)."""
    words = [word.lower() for word in WORD.findall(text)]
    if not words:
        return True
    letters = [ch for word in words for ch in word]
    if sum(ord(ch) > LATIN_END for ch in letters) > len(letters) / 2:
        return False
    english = sum(word in ENGLISH for word in words)
    other = sum(word in OTHER for word in words)
    accented = sum(any(ord(ch) > 0x7F for ch in word) for word in words)
    return not (other > english or (accented and not english))
