"""Every word a user reads, in English and Italian.

`text(key, locale, **values)` picks the user's language (from the platform's language
code, "it-IT" → "it") and falls back to English for anything not translated.
"""

from __future__ import annotations

import re
import unicodedata

DEFAULT_LOCALE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    # queue and progress
    "queued": {
        "en": "⏳ Queued: place {position} in line · ETA ~{eta}",
        "it": "⏳ In coda: posto {position} · tempo stimato ~{eta}",
    },
    "queued_no_eta": {
        "en": "⏳ Queued: place {position} in line · ETA after the first clip is timed",
        "it": "⏳ In coda: posto {position} · stima dopo il primo video",
    },
    "rendering": {
        "en": "🎬 Rendering {bar} {step}/{total} {total:step|steps}",
        "it": "🎬 Generazione {bar} {step}/{total} {total:passo|passi}",
    },
    "encoding": {"en": "📦 Encoding the clip…", "it": "📦 Codifica del video…"},
    "delivering": {"en": "📤 Sending the clip…", "it": "📤 Invio del video…"},
    "waiting_for_model": {
        "en": "⏳ Queued: place {position} in line · rendering is paused (the video model is not ready yet); "
        "your job waits",
        "it": "⏳ In coda: posto {position} · generazione in pausa (il modello non è ancora pronto); "
        "il lavoro attende",
    },
    "model_not_installed": {
        "en": "⏳ Queued: place {position} in line · the server's video model is not installed yet, "
        "so your clip waits (at most {wait}; then it is cancelled and refunded). "
        "The bot's owner can fetch it with `videobot pull`.",
        "it": "⏳ In coda: posto {position} · il modello video del server non è ancora installato, "
        "quindi il video attende (al massimo {wait}; poi è annullato e la quota restituita). "
        "Il proprietario del bot può scaricarlo con `videobot pull`.",
    },
    "done_status": {"en": "✅ Done: clip #{job} below.", "it": "✅ Fatto: video #{job} qui sotto."},
    "caption": {
        "en": "{prompt}\nseed {seed} · {frames} {frames:frame|frames} · {steps} {steps:step|steps} · "
        "#{job}\n🤖 AI-generated",
        "it": "{prompt}\nseed {seed} · {frames} {frames:fotogramma|fotogrammi} · "
        "{steps} {steps:passo|passi} · #{job}\n🤖 Generato con IA",
    },
    "caption_late": {
        "en": "{mention} your clip is ready.\n{caption}",
        "it": "{mention} il tuo video è pronto.\n{caption}",
    },
    # failures
    "failed_internal": {
        "en": "❌ Something went wrong with video #{job}; your quota was refunded.",
        "it": "❌ Qualcosa è andato storto con il video #{job}; la quota ti è stata restituita.",
    },
    "failed_attempts": {
        "en": "❌ Video #{job} failed after {attempts} {attempts:try|tries}; your quota was refunded.",
        "it": "❌ Il video #{job} non è riuscito dopo {attempts} {attempts:tentativo|tentativi}; "
        "quota restituita.",
    },
    "failed_model_missing": {
        "en": "❌ Video #{job} could not be made: the server's video model is still not installed "
        "(or does not load). Your quota was refunded.",
        "it": "❌ Il video #{job} non si può fare: il modello video del server non è ancora installato "
        "(o non si carica). Quota restituita.",
    },
    "failed_oom": {
        "en": "❌ The GPU ran out of memory for video #{job}; try fewer frames. Your quota was refunded.",
        "it": "❌ Memoria GPU esaurita per il video #{job}; prova con meno fotogrammi. Quota restituita.",
    },
    "failed_undeliverable": {
        "en": "❌ I could not send video #{job} here, so I gave up; your quota was refunded.",
        "it": "❌ Non sono riuscito a inviare qui il video #{job}, quindi ho rinunciato; quota restituita.",
    },
    "failed_too_big": {
        "en": "❌ Video #{job} is too large to send here even after shrinking; try fewer frames.",
        "it": "❌ Il video #{job} è troppo grande da inviare qui anche ridotto; prova con meno fotogrammi.",
    },
    # commands
    "cancelled": {"en": "🛑 Cancelled video #{job}.", "it": "🛑 Video #{job} annullato."},
    "cancel_nothing": {
        "en": "You have no video waiting or rendering.",
        "it": "Non hai video in coda o in generazione.",
    },
    "cancel_not_owner": {
        "en": "Only the person who asked for video #{job} (or an admin) can cancel it.",
        "it": "Solo chi ha chiesto il video #{job} (o un admin) può annullarlo.",
    },
    "cancel_finished": {
        "en": "Video #{job} has already finished.",
        "it": "Il video #{job} è già terminato.",
    },
    # the same words whether the job does not exist or belongs to another chat: ids are sequential
    "job_not_found": {"en": "There is no video #{job} here.", "it": "Qui non c'è nessun video #{job}."},
    "bad_job_id": {
        "en": "“{value}” is not a video number; use the number shown with the clip, like 12.",
        "it": "“{value}” non è un numero di video; usa il numero mostrato col video, es. 12.",
    },
    "queue_status": {
        "en": "📋 {waiting} waiting, {running} rendering.",
        "it": "📋 {waiting} in attesa, {running} in generazione.",
    },
    "queue_yours": {
        "en": "Your video #{job}: #{position} in line · ETA ~{eta}",
        "it": "Il tuo video #{job}: #{position} in fila · tempo stimato ~{eta}",
    },
    "queue_yours_running": {
        "en": "Your video #{job} is rendering now.",
        "it": "Il tuo video #{job} è in generazione ora.",
    },
    "queue_none_yours": {"en": "You have nothing queued.", "it": "Non hai niente in coda."},
    "quota_status": {
        "en": "🎟 {left} of {limit} {limit:clip|clips} left today; resets in {wait}. "
        "{queued} of {max_queued} queue slots in use.",
        "it": "🎟 Ti restano {left} video su {limit} oggi; si azzera tra {wait}. "
        "{queued} di {max_queued} posti in coda occupati.",
    },
    "info": {
        "en": "ℹ Video #{job} · {status}\nprompt: {prompt}\nnegative: {negative}\n"
        "seed {seed} · {frames} {frames:frame|frames} · {steps} {steps:step|steps} · guidance {guidance} · "
        "{width}×{height} @ {fps} fps\nmodel: {model}\nAI-generated by videobot {version}",
        "it": "ℹ Video #{job} · {status}\nprompt: {prompt}\nnegativo: {negative}\n"
        "seed {seed} · {frames} {frames:fotogramma|fotogrammi} · {steps} {steps:passo|passi} · "
        "guidance {guidance} · "
        "{width}×{height} @ {fps} fps\nmodello: {model}\nGenerato con IA da videobot {version}",
    },
    "info_none": {
        "en": "You have no videos yet; try /video a cat surfing.",
        "it": "Non hai ancora video; prova /video un gatto che fa surf.",
    },
    "deleted": {"en": "🗑 Deleted.", "it": "🗑 Eliminato."},
    "delete_refused": {
        "en": "Only the person who asked for this clip (or an admin) can delete it.",
        "it": "Solo chi ha chiesto questo video (o un admin) può eliminarlo.",
    },
    "clip_gone": {
        "en": "Video #{job} is no longer on the server.",
        "it": "Il video #{job} non è più sul server.",
    },
    "help": {
        "en": "🎬 I turn text into a short AI-generated video.\n"
        "/video <prompt> [--seed N] [--neg TEXT] [--frames {min_frames}-{max_frames}] "
        "[--steps {min_steps}-{max_steps}] [--guidance {min_guidance}-{max_guidance}]{model_option}"
        " [--loop]\n"
        "{commands}\n"
        "Limits: {daily} {daily:clip|clips} a day, {max_queued} waiting at once, "
        "prompts up to {max_prompt_chars} {max_prompt_chars:character|characters}; "
        "{default_frames} {default_frames:frame makes|frames make} {seconds} at {fps} fps.\n"
        "Clips are made by {model} (licence: {licence}).\n"
        "I refuse prompts with blocked words or naming the real people on my protected list: "
        "fake videos of real people can hurt them. Every clip is signed with Content Credentials "
        "(C2PA) saying it is AI-generated; send /verify as a reply to a video to check one.",
        "it": "🎬 Trasformo un testo in un breve video generato con IA.\n"
        "/video <prompt> [--seed N] [--neg TESTO] [--frames {min_frames}-{max_frames}] "
        "[--steps {min_steps}-{max_steps}] [--guidance {min_guidance}-{max_guidance}]{model_option}"
        " [--loop]\n"
        "{commands}\n"
        "Limiti: {daily} video al giorno, {max_queued} in attesa alla volta, "
        "prompt fino a {max_prompt_chars} {max_prompt_chars:carattere|caratteri}; "
        "{default_frames} {default_frames:fotogramma dura|fotogrammi durano} {seconds} a {fps} fps.\n"
        "I video sono creati da {model} (licenza: {licence}).\n"
        "Rifiuto i prompt con parole vietate o che nominano le persone reali della mia lista "
        "protetta: i video falsi di persone reali possono far loro del male. Ogni video è firmato "
        "con Content Credentials (C2PA) che dicono che è generato con IA; rispondi a un video con "
        "/verify per controllarlo.",
    },
    # Content Credentials: /info's line, /verify's answer
    "credentials_valid": {
        "en": "🔏 Content Credentials: signed by {signer} · valid · {trust}",
        "it": "🔏 Content Credentials: firmato da {signer} · valido · {trust}",
    },
    "credentials_parent": {
        "en": "⏩ Extends an earlier clip, which carried no Content Credentials of its own.",
        "it": "⏩ Estende un video precedente, che non aveva Content Credentials proprie.",
    },
    "credentials_parent_signed": {
        "en": "⏩ Extends an earlier clip, whose own Content Credentials are kept inside.",
        "it": "⏩ Estende un video precedente, le cui Content Credentials sono conservate all'interno.",
    },
    "credentials_picture": {
        "en": "🖼 Made from a picture, which carried no Content Credentials of its own.",
        "it": "🖼 Creato da un'immagine, che non aveva Content Credentials proprie.",
    },
    "credentials_picture_signed": {
        "en": "🖼 Made from a picture, which carried Content Credentials of its own (kept in the manifest).",
        "it": "🖼 Creato da un'immagine, che aveva Content Credentials proprie (conservate nel manifest).",
    },
    "credentials_altered": {
        "en": "⚠️ Content Credentials: signed by {signer}, but the file was altered after signing · {trust}",
        "it": "⚠️ Content Credentials: firmato da {signer}, ma il file è stato modificato dopo la firma "
        "· {trust}",
    },
    "credentials_trusted": {"en": "trusted issuer", "it": "emittente affidabile"},
    "credentials_untrusted": {
        "en": "the bot's own certificate, not from a trusted issuer",
        "it": "certificato del bot stesso, non di un emittente affidabile",
    },
    "credentials_missing": {
        "en": "No Content Credentials in this file: nothing signed says who made it or how.",
        "it": "Nessuna Content Credential in questo file: nulla di firmato dice chi l'ha fatto o come.",
    },
    "credentials_unreadable": {
        "en": "I could not read that file as an MP4 video.",
        "it": "Non riesco a leggere quel file come video MP4.",
    },
    "credentials_ai": {
        "en": "AI-generated (trained algorithmic media) with {model}",
        "it": "Generato con IA (trained algorithmic media) con {model}",
    },
    "credentials_loras": {"en": "LoRAs: {loras}", "it": "LoRA: {loras}"},
    "credentials_sound": {
        "en": "🔊 The sound is AI-generated too",
        "it": "🔊 Anche l'audio è generato con IA",
    },
    "credentials_when": {"en": "made {when}", "it": "creato {when}"},
    "credentials_problems": {"en": "failed checks: {codes}", "it": "controlli falliti: {codes}"},
    "verify_how": {
        "en": "Send /verify as a reply to a video (or attach one) and I will check its Content Credentials.",
        "it": "Rispondi a un video con /verify (o allegane uno) e ne controllo le Content Credentials.",
    },
    "verify_how_console": {
        "en": "Type /verify and the path of an MP4, and I will check its Content Credentials.",
        "it": "Scrivi /verify e il percorso di un MP4, e ne controllo le Content Credentials.",
    },
    "verify_no_file": {
        "en": "There is no file at {path}.",
        "it": "Non c'è nessun file in {path}.",
    },
    "verify_too_big": {
        "en": "That file is too large to check; I check videos up to {limit} MB.",
        "it": "Quel file è troppo grande; controllo video fino a {limit} MB.",
    },
    "verify_busy": {
        "en": "I am checking other people's files right now; please send it again in a minute.",
        "it": "Sto controllando i file di altre persone; rimandalo tra un minuto.",
    },
    "verify_too_soon": {
        "en": "One check at a time, please: send it again in {seconds} s.",
        "it": "Un controllo alla volta: rimandalo tra {seconds} s.",
    },
    "verify_too_slow": {
        "en": "That file took too long to check; it is not a clip I can read.",
        "it": "Quel file richiede troppo tempo per il controllo; non è un video che so leggere.",
    },
    "verify_off": {
        "en": "Checking Content Credentials is not available on this bot.",
        "it": "Il controllo delle Content Credentials non è disponibile su questo bot.",
    },
    # argument errors: one sentence naming what was wrong and what is allowed
    "prompt_empty": {
        "en": "Please describe the video after /video, e.g. /video a cat surfing.",
        "it": "Descrivi il video dopo /video, ad esempio /video un gatto che fa surf.",
    },
    "prompt_too_long": {
        "en": "The prompt is {length} {length:character|characters}; the limit is {limit}.",
        "it": "Il prompt è di {length} {length:carattere|caratteri}; il limite è {limit}.",
    },
    "unknown_option": {
        "en": "Unknown option {option}; use --seed, --neg, --frames, --steps, --guidance or --model.",
        "it": "Opzione sconosciuta {option}; usa --seed, --neg, --frames, --steps, --guidance o --model.",
    },
    "missing_value": {
        "en": "Option {option} needs a value after it.",
        "it": "L'opzione {option} richiede un valore.",
    },
    "not_integer": {
        "en": "{option} must be a whole number, not “{value}”.",
        "it": "{option} deve essere un numero intero, non “{value}”.",
    },
    "not_number": {
        "en": "{option} must be a number, not “{value}”.",
        "it": "{option} deve essere un numero, non “{value}”.",
    },
    "frames_out_of_range": {
        "en": "--frames must be between {low} and {high} ({low_s}–{high_s} s at {fps} fps); "
        "you gave {value}.",
        "it": "--frames deve essere tra {low} e {high} ({low_s}–{high_s} s a {fps} fps); "
        "hai scritto {value}.",
    },
    "frames_rule": {
        "en": "{model} takes {rule} frames ({examples}…): try {fix}.",
        "it": "{model} accetta {rule} fotogrammi ({examples}…): prova {fix}.",
    },
    "size_rule": {
        "en": "{model} needs sizes that are multiples of {multiple}; ask the bot's owner to fix its size.",
        "it": "{model} richiede dimensioni multiple di {multiple}; "
        "chiedi al proprietario del bot di correggerle.",
    },
    "model_unknown": {
        "en": "There is no model called “{model}” here; pick one of {known}.",
        "it": "Non c'è nessun modello chiamato “{model}” qui; scegli tra {known}.",
    },
    "model_not_here": {
        "en": "The model {model} is not switched on in this chat; pick one of {known}.",
        "it": "Il modello {model} non è attivo in questa chat; scegli tra {known}.",
    },
    "models_header": {"en": "🎞 Video models (⭐ the default):", "it": "🎞 Modelli video (⭐ il predefinito):"},
    "models_line": {
        "en": "• {name}{star} · licence {licence} · {width}×{height}, "
        "{frames} {frames:frame|frames} ({seconds} at {fps} fps; "
        "{rule}), {steps} {steps:step|steps}, guidance {guidance}{state}",
        "it": "• {name}{star} · licenza {licence} · {width}×{height}, "
        "{frames} {frames:fotogramma|fotogrammi} ({seconds} a {fps} fps; "
        "{rule}), {steps} {steps:passo|passi}, guidance {guidance}{state}",
    },
    "models_loaded": {"en": " · loaded", "it": " · caricato"},
    "models_loras": {"en": " · LoRAs {loras}", "it": " · LoRA {loras}"},
    "models_sound": {"en": " · 🔊 sound", "it": " · 🔊 audio"},
    "models_not_loaded": {"en": " · not loaded", "it": " · non caricato"},
    "models_pick": {
        "en": "Pick one with /video <prompt> --model NAME.",
        "it": "Sceglilo con /video <prompt> --model NOME.",
    },
    "admin_model_switched": {
        "en": "🎞 New videos now use {model} (licence {licence}); queued ones keep the model they asked for.",
        "it": "🎞 I nuovi video ora usano {model} (licenza {licence}); "
        "quelli in coda tengono il loro modello.",
    },
    "admin_model_usage": {
        "en": "Use /admin model <name> with one of {known}.",
        "it": "Usa /admin model <nome> con uno tra {known}.",
    },
    "out_of_range": {
        "en": "{option} must be between {low} and {high}; you gave {value}.",
        "it": "{option} deve essere tra {low} e {high}; hai scritto {value}.",
    },
    "repeated_option": {
        "en": "Option {option} was given twice; give it once.",
        "it": "L'opzione {option} è ripetuta; indicala una sola volta.",
    },
    # quota
    "quota_daily": {
        "en": "Daily limit of {limit} {limit:clip|clips} reached; resets in {wait}.",
        "it": "Limite giornaliero di {limit} video raggiunto; si azzera tra {wait}.",
    },
    "queue_full": {
        "en": "⏳ The queue is full ({waiting} {waiting:video|videos} waiting); try again in a few minutes.",
        "it": "⏳ La coda è piena ({waiting} video in attesa); riprova tra qualche minuto.",
    },
    "quota_queued": {
        "en": "You already have {queued} {queued:video|videos} waiting (at most {limit}); "
        "wait for one to finish.",
        "it": "Hai già {queued} video in attesa (al massimo {limit}); aspetta che uno finisca.",
    },
    "quota_rate": {
        "en": "Slow down: at most {limit} {limit:video|videos} in a row; the next one in {wait}.",
        "it": "Piano: al massimo {limit} video di fila; il prossimo tra {wait}.",
    },
    "banned": {
        "en": "You can't use this bot: an admin banned you ({reason}).",
        "it": "Non puoi usare questo bot: un admin ti ha bloccato ({reason}).",
    },
    "disabled_here": {
        "en": "The admins have switched videos off in this chat.",
        "it": "Gli admin hanno disattivato i video in questa chat.",
    },
    "policy_blocked": {
        "en": "That prompt isn't allowed here (it contains “{matched}”); nothing was charged.",
        "it": "Questo prompt non è permesso (contiene “{matched}”); nulla è stato addebitato.",
    },
    # ⏩ Extend and --loop (docs/extend.md): each refusal is one sentence and charges nothing
    "extend_refused": {
        "en": "Only the person who asked for this clip (or an admin) can extend it.",
        "it": "Solo chi ha chiesto questo video (o un admin) può estenderlo.",
    },
    "extend_no_pictures": {
        "en": "Clips made with {model} can't be extended (it doesn't take pictures). Nothing was charged.",
        "it": "I video fatti con {model} non si possono estendere (non accetta immagini). "
        "Nulla è stato addebitato.",
    },
    "extend_no_clip": {
        "en": "Clip #{job} is not finished or no longer kept, so it can't be extended. Nothing was charged.",
        "it": "Il video #{job} non è finito o non è più conservato, quindi non si può estendere. "
        "Nulla è stato addebitato.",
    },
    "extend_too_long": {
        "en": "That clip is already {seconds} s long and can't be extended past {limit} s. "
        "Nothing was charged.",
        "it": "Quel video dura già {seconds} s e non si può estendere oltre {limit} s. "
        "Nulla è stato addebitato.",
    },
    "extend_which": {
        "en": "Which clip? Reply to it with /extend, or give its number: /extend 12 [prompt].",
        "it": "Quale video? Rispondigli con /extend, o indica il numero: /extend 12 [prompt].",
    },
    "loop_unsupported": {
        "en": "{model} can't make loops; loops work with {models}. Nothing was charged.",
        "it": "{model} non sa fare loop; i loop funzionano con {models}. Nulla è stato addebitato.",
    },
    # pictures to animate: each refusal is one sentence and charges nothing
    "picture_text_only": {
        "en": "{model} makes clips from text only; pictures work with {models}. Nothing was charged.",
        "it": "{model} crea video solo da testo; le immagini funzionano con {models}. "
        "Nulla è stato addebitato.",
    },
    "picture_nowhere": {
        "en": "No model here animates pictures; send the prompt alone. Nothing was charged.",
        "it": "Nessun modello qui anima immagini; invia solo il prompt. Nulla è stato addebitato.",
    },
    "picture_needed": {
        "en": "{model} animates pictures only: send a photo with the /video caption. Nothing was charged.",
        "it": "{model} anima solo immagini: invia una foto con la didascalia /video. "
        "Nulla è stato addebitato.",
    },
    "picture_too_big": {
        "en": "That picture is over {limit} MB; send a smaller one. Nothing was charged.",
        "it": "L'immagine supera {limit} MB; inviane una più piccola. Nulla è stato addebitato.",
    },
    "picture_empty": {
        "en": "That picture is empty (0 bytes). Nothing was charged.",
        "it": "L'immagine è vuota (0 byte). Nulla è stato addebitato.",
    },
    "picture_not_image": {
        "en": "That file is not a JPEG, PNG or WebP picture. Nothing was charged.",
        "it": "Il file non è un'immagine JPEG, PNG o WebP. Nulla è stato addebitato.",
    },
    "picture_broken": {
        "en": "That picture is damaged or cut short; send it again. Nothing was charged.",
        "it": "L'immagine è danneggiata o incompleta; inviala di nuovo. Nulla è stato addebitato.",
    },
    "picture_dimensions": {
        "en": "That picture is {width}×{height}; pictures must be {low}–{high} pixels a side and at most "
        "{aspect}:1. Nothing was charged.",
        "it": "L'immagine è {width}×{height}; servono {low}–{high} pixel per lato e al massimo "
        "{aspect}:1. Nulla è stato addebitato.",
    },
    "animate_no_picture": {
        "en": "That message has no picture (JPEG, PNG or WebP) to animate.",
        "it": "Quel messaggio non ha un'immagine (JPEG, PNG o WebP) da animare.",
    },
    "picture_face": {
        "en": "That picture shows a real person's face, and I don't animate photos of real people "
        "(deepfakes); nothing was charged.",
        "it": "L'immagine mostra il volto di una persona reale e non animo foto di persone reali "
        "(deepfake); nulla è stato addebitato.",
    },
    "picture_unavailable": {
        "en": "Pictures can't be checked right now, so I can't animate one. Nothing was charged.",
        "it": "Ora non posso controllare le immagini, quindi non posso animarne una. "
        "Nulla è stato addebitato.",
    },
    "picture_download_failed": {
        "en": "I couldn't download that picture; send it again. Nothing was charged.",
        "it": "Non sono riuscito a scaricare l'immagine; inviala di nuovo. Nulla è stato addebitato.",
    },
    "info_chain": {
        "en": "extends: {chain}",
        "it": "estende: {chain}",
    },
    "info_loop": {"en": "a loop", "it": "un loop"},
    "info_picture": {
        "en": "from a picture: {format}, {width}×{height}, {size}, SHA-256 {sha256}{credentials}",
        "it": "da un'immagine: {format}, {width}×{height}, {size}, SHA-256 {sha256}{credentials}",
    },
    "info_picture_credentials": {
        "en": " · it carried Content Credentials",
        "it": " · aveva Content Credentials",
    },
    "models_pictures": {"en": " · 🖼 animates pictures", "it": " · 🖼 anima immagini"},
    "models_pictures_only": {"en": " · 🖼 pictures only", "it": " · 🖼 solo immagini"},
    "policy_person": {
        "en": "I don't make videos of real people such as {matched}; nothing was charged.",
        "it": "Non creo video di persone reali come {matched}; nulla è stato addebitato.",
    },
    # admin tools
    "admin_only": {
        "en": "Only admins of this chat can use /admin.",
        "it": "Solo gli admin di questa chat possono usare /admin.",
    },
    "admin_queue_empty": {
        "en": "📋 Nothing is waiting or rendering here.",
        "it": "📋 Niente in attesa o in corso qui.",
    },
    "admin_audit_empty": {
        "en": "📜 The audit log has nothing here yet.",
        "it": "📜 Il registro non ha ancora niente qui.",
    },
    "admin_usage_shell": {
        "en": "Use videobot admin quota show|set|reset <user> [n], ban|unban <user> [reason], queue, "
        "purge [user], audit [n], or model <name>. Name users as telegram:<id> or discord:<id>.",
        "it": "Usa videobot admin quota show|set|reset <utente> [n], ban|unban <utente> [motivo], queue, "
        "purge [utente], audit [n] o model <nome>. Indica gli utenti come telegram:<id> o discord:<id>.",
    },
    "admin_usage": {
        "en": "Use /admin quota show|set|reset <user> [n], ban|unban <user> [reason], queue, "
        "purge [user], settings [key value], audit [n], or model <name>. Name users by reply, mention, "
        "or as telegram:<id> / discord:<id>.",
        "it": "Usa /admin quota show|set|reset <utente> [n], ban|unban <utente> [motivo], queue, "
        "purge [utente], settings [chiave valore], audit [n] o model <nome>. Indica gli utenti rispondendo, "
        "menzionandoli o come telegram:<id> / discord:<id>.",
    },
    "admin_model_owner_only": {
        "en": "Only the bot's owners can switch the model: it is the same for every chat.",
        "it": "Solo i proprietari del bot possono cambiare il modello: è lo stesso in tutte le chat.",
    },
    "admin_owner_only": {
        "en": "Only the bot's owners can change a person's quota: it counts across every chat. "
        "Use /admin settings daily <n> to limit this chat.",
        "it": "Solo i proprietari del bot possono cambiare la quota di una persona: vale in tutte "
        "le chat. Usa /admin settings daily <n> per limitare questa chat.",
    },
    "admin_need_user": {
        "en": "Say which user: reply to their message, mention them, or write telegram:<id> / discord:<id>.",
        "it": "Indica l'utente: rispondi a un suo messaggio, menzionalo "
        "o scrivi telegram:<id> / discord:<id>.",
    },
    "admin_quota_show": {
        "en": "🎟 {user}: {used} of {limit} {limit:clip|clips} used today, {queued} waiting; "
        "resets in {wait}.",
        "it": "🎟 {user}: {used} video su {limit} usati oggi, {queued} in attesa; si azzera tra {wait}.",
    },
    "admin_is_banned": {"en": "⛔ banned: {reason}", "it": "⛔ bloccato: {reason}"},
    "admin_quota_set": {
        "en": "✅ Daily quota of {user} set to {value}.",
        "it": "✅ Quota giornaliera di {user} impostata a {value}.",
    },
    "admin_quota_reset": {
        "en": "✅ Today's usage of {user} reset.",
        "it": "✅ Utilizzo di oggi di {user} azzerato.",
    },
    "admin_banned": {
        "en": "⛔ {user} is banned ({reason}); their waiting jobs were cancelled.",
        "it": "⛔ {user} è bloccato ({reason}); i suoi lavori in attesa sono stati annullati.",
    },
    "admin_cannot_ban": {
        "en": "{user} can't be banned (yourself or a bot owner).",
        "it": "{user} non può essere bloccato (sei tu o un proprietario del bot).",
    },
    "admin_unbanned": {"en": "✅ {user} is no longer banned.", "it": "✅ {user} non è più bloccato."},
    "admin_not_banned": {"en": "{user} is not banned.", "it": "{user} non è bloccato."},
    "admin_purged": {
        "en": "🧹 Cancelled {count} waiting {count:job|jobs}; {count:its|their} quota was refunded.",
        "it": "🧹 {count:Annullato|Annullati} {count} {count:lavoro|lavori} in attesa; "
        "la quota è stata restituita.",
    },
    "purged_notice": {
        "en": "🛑 An admin cancelled video #{job}; your quota was refunded.",
        "it": "🛑 Un admin ha annullato il video #{job}; la quota ti è stata restituita.",
    },
    "admin_gallery_whole_server": {
        "en": "⚠ The public gallery now shows clips from every channel and thread of this server, "
        "private and staff channels included. Turn it off (/admin settings gallery off) if some "
        "channels must stay private.",
        "it": "⚠ La galleria pubblica ora mostra i video di ogni canale e thread di questo server, "
        "compresi quelli privati e dello staff. Disattivala (/admin settings gallery off) se alcuni "
        "canali devono restare privati.",
    },
    "admin_settings": {
        "en": "⚙ This chat: max_frames {max_frames}, max_steps {max_steps}, daily {daily}, "
        "challenges {challenges}, enabled {enabled}, gallery {gallery}, models {models}, faces {faces}.",
        "it": "⚙ Questa chat: max_frames {max_frames}, max_steps {max_steps}, daily {daily}, "
        "challenges {challenges}, enabled {enabled}, gallery {gallery}, models {models}, faces {faces}.",
    },
    "admin_faces_usage": {
        "en": "Use /admin settings faces refuse, owners or allow (the bot's setting is {policy}).",
        "it": "Usa /admin settings faces refuse, owners o allow (l'impostazione del bot è {policy}).",
    },
    "admin_faces_looser": {
        "en": "A chat can only make the face policy stricter than the bot's ({policy}).",
        "it": "Una chat può solo rendere più severa la regola sui volti del bot ({policy}).",
    },
    "admin_settings_usage": {
        "en": "Use /admin settings <key> <value> with key one of {keys}.",
        "it": "Usa /admin settings <chiave> <valore> con chiave tra {keys}.",
    },
    "admin_settings_need_chat": {
        "en": "Settings belong to a chat: run this in the chat itself.",
        "it": "Le impostazioni sono per chat: usa il comando nella chat stessa.",
    },
    "admin_on_off": {"en": "{setting} takes on or off.", "it": "{setting} accetta on oppure off."},
    # challenges
    "challenge_usage": {
        "en": "Use /challenge start <theme> [duration like 2h] [entries per person] [required words] "
        "[--free], /challenge enter <prompt>, /challenge status, /challenge end or /challenge cancel.",
        "it": "Usa /challenge start <tema> [durata es. 2h] [voci a persona] [parole obbligatorie] "
        "[--free], /challenge enter <prompt>, /challenge status, /challenge end o /challenge cancel.",
    },
    "challenge_free_owner_only": {
        "en": "Only the bot's owners can start a --free challenge (its entries skip the daily quota).",
        "it": "Solo i proprietari del bot possono avviare una sfida --free (fuori dalla quota).",
    },
    "challenge_admin_only": {
        "en": "Only admins of this chat can start or end a challenge.",
        "it": "Solo gli admin di questa chat possono avviare o chiudere una sfida.",
    },
    "challenge_disabled": {
        "en": "The admins have switched challenges off in this chat.",
        "it": "Gli admin hanno disattivato le sfide in questa chat.",
    },
    "challenge_already_open": {
        "en": "This chat already has a challenge running; end it first with /challenge end.",
        "it": "In questa chat c'è già una sfida in corso; chiudila prima con /challenge end.",
    },
    "challenge_bad_duration": {
        "en": "“{value}” is not a duration I accept; use 1m to 30d, like 90m, 2h or 1d12h.",
        "it": "“{value}” non è una durata valida; usa da 1m a 30d, ad esempio 90m, 2h o 1d12h.",
    },
    "challenge_none": {
        "en": "There is no challenge running in this chat.",
        "it": "Non c'è nessuna sfida in corso in questa chat.",
    },
    "challenge_announce": {
        "en": "🏁 New challenge: “{theme}”\n{rules}\nVoting closes in {left}. "
        "Enter with /challenge enter <prompt>; vote with 👍 under the entries.",
        "it": "🏁 Nuova sfida: “{theme}”\n{rules}\nLe votazioni chiudono tra {left}. "
        "Partecipa con /challenge enter <prompt>; vota con 👍 sotto le voci.",
    },
    "challenge_rules": {
        "en": "Up to {entries} {entries:entry|entries} each; no voting for yourself.",
        "it": "Fino a {entries} {entries:voce|voci} a testa; non puoi votare te stesso.",
    },
    "challenge_rules_words": {
        "en": "Prompts must contain: {words}.",
        "it": "I prompt devono contenere: {words}.",
    },
    "challenge_rules_quota": {
        "en": "Entries count against your daily quota.",
        "it": "Le voci contano nella tua quota giornaliera.",
    },
    "challenge_missing_words": {
        "en": "This challenge needs these words in the prompt: {words}.",
        "it": "Questa sfida richiede queste parole nel prompt: {words}.",
    },
    "challenge_too_many": {
        "en": "You already entered {limit} {limit:time|times}, the most this challenge allows.",
        "it": "Hai già partecipato {limit} {limit:volta|volte}, il massimo per questa sfida.",
    },
    "challenge_entry": {
        "en": "🏁 {name}'s entry for “{theme}”: {prompt}\nseed {seed} · #{job}\n🤖 AI-generated",
        "it": "🏁 Voce di {name} per “{theme}”: {prompt}\nseed {seed} · #{job}\n🤖 Generato con IA",
    },
    "challenge_status": {
        "en": "🏁 “{theme}” · {entries} {entries:entry|entries} · voting closes in {left}",
        "it": "🏁 “{theme}” · {entries} {entries:voce|voci} · le votazioni chiudono tra {left}",
    },
    "challenge_see_all": {
        "en": "🌐 See all entries at {url}",
        "it": "🌐 Tutte le voci su {url}",
    },
    "leaderboard_see_all": {
        "en": "🌐 Also at {url}",
        "it": "🌐 Anche su {url}",
    },
    "challenge_voting_closed": {
        "en": "Voting for this challenge is closed.",
        "it": "Le votazioni per questa sfida sono chiuse.",
    },
    "challenge_self_vote": {
        "en": "You can't vote for your own entry.",
        "it": "Non puoi votare la tua voce.",
    },
    "vote_counted": {
        "en": "👍 Vote counted ({votes} in all).",
        "it": "👍 Voto registrato ({votes} in tutto).",
    },
    "vote_removed": {"en": "Vote taken back ({votes} left).", "it": "Voto ritirato (ne restano {votes})."},
    "button_vote": {"en": "👍 {votes}", "it": "👍 {votes}"},
    "challenge_winner": {
        "en": "🏆 “{theme}” is over! The winner is {names} with {votes} {votes:vote|votes} (entry #{job}).",
        "it": "🏆 “{theme}” è finita! Vince {names} con {votes} {votes:voto|voti} (voce #{job}).",
    },
    "challenge_winners": {
        "en": "🏆 “{theme}” is over! A tie at {votes} {votes:vote|votes}: {names} share the win.",
        "it": "🏆 “{theme}” è finita! Pareggio a {votes} {votes:voto|voti}: vincono {names}.",
    },
    "challenge_no_winner": {
        "en": "🏁 “{theme}” is over, with no votes cast: no winner this time.",
        "it": "🏁 “{theme}” è finita senza voti: nessun vincitore questa volta.",
    },
    "challenge_entry_cancelled": {
        "en": "🛑 The challenge was called off, so entry #{job} will not be made; your quota was refunded.",
        "it": "🛑 La sfida è stata annullata: l'opera #{job} non verrà creata; quota restituita.",
    },
    "challenge_cancelled": {
        "en": "🛑 The challenge “{theme}” was cancelled; no winner.",
        "it": "🛑 La sfida “{theme}” è stata annullata; nessun vincitore.",
    },
    "leaderboard_empty": {
        "en": "No challenge has finished in this chat yet.",
        "it": "In questa chat non è ancora finita nessuna sfida.",
    },
    "leaderboard_title": {"en": "🏆 Leaderboard", "it": "🏆 Classifica"},
    "leaderboard_row": {
        "en": "{place}. {name} · {wins} {wins:win|wins} · {votes} {votes:vote|votes}",
        "it": "{place}. {name} · {wins} {wins:vittoria|vittorie} · {votes} {votes:voto|voti}",
    },
    "unknown_command": {
        "en": "I don't know that command; /help lists what I can do.",
        "it": "Non conosco questo comando; /help elenca cosa so fare.",
    },
    "internal_error": {
        "en": "Something went wrong on my side; nothing was charged. Please try again.",
        "it": "Qualcosa è andato storto da parte mia; nulla è stato addebitato. Riprova.",
    },
    "button_reroll": {"en": "🔁 Reroll", "it": "🔁 Rifai"},
    "button_variation": {"en": "🎲 Variation", "it": "🎲 Variante"},
    "button_extend": {"en": "⏩ Extend", "it": "⏩ Estendi"},
    "button_info": {"en": "ℹ Info", "it": "ℹ Info"},
    "button_delete": {"en": "🗑 Delete", "it": "🗑 Elimina"},
    # Discord only: every interaction needs an answer, even when the real one went to the channel
    "board_title": {
        "en": "📋 {count} {count:video|videos} on {count:its|their} way in this chat:",
        "it": "📋 {count} video in arrivo in questa chat:",
    },
    "board_waiting": {"en": "#{position} in line", "it": "#{position} in coda"},
    "board_rendering": {"en": "rendering {percent}%", "it": "in creazione {percent}%"},
    "board_sending": {"en": "sending", "it": "in invio"},
    "board_all_done": {
        "en": "✅ {count:The video is|All {count} videos are} done.",
        "it": "✅ {count:Il video è pronto|Tutti i {count} video sono pronti}.",
    },
    "and_more": {"en": "…and {count} more", "it": "…e altri {count}"},
    "command_done": {"en": "✅ Done.", "it": "✅ Fatto."},
}

LOCALES = ("en", "it")


def normalise_locale(code: str | None) -> str:
    """Map a platform language code ("it-IT", "en_US", None) to one we speak."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in ("en", "it") else DEFAULT_LOCALE


# `{count:entry|entries}`: the first form when `count` is 1, else the second (English and Italian
# both use the singular for exactly one); the forms may hold plain `{name}` fields.
_PLURAL = re.compile(r"\{(\w+):((?:[^|{}]|\{\w+\})*)\|((?:[^|{}]|\{\w+\})*)\}")


def _plural_forms(template: str, values: dict[str, object]) -> str:
    def choose(match: re.Match[str]) -> str:
        return match.group(2) if str(values.get(match.group(1))) == "1" else match.group(3)

    return _PLURAL.sub(choose, template) if "|" in template else template


def text(key: str, locale: str = DEFAULT_LOCALE, **values: object) -> str:
    """The message `key` in `locale` (English if missing), filled with `values`, each counted
    word in its singular or plural form."""
    variants = MESSAGES[key]
    template = variants.get(normalise_locale(locale)) or variants[DEFAULT_LOCALE]
    return _plural_forms(template, values).format(**values)


# Long answers (lists) are cut to this many characters: within Discord's 2,000 and, even if every
# character took two UTF-16 units, within Telegram's 4,096.  Adapters still fit every text to
# their platform's own limit (`fit`) as the last word.
LIST_BUDGET = 1_900
ECHO_MAX = 60  # characters of the user's own input repeated back in an error


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit(text: str, limit: int, *, utf16: bool = False) -> str:
    """`text` cut to `limit` characters (or UTF-16 units, as Telegram counts), ending in "…"."""
    size = utf16_units if utf16 else len
    if size(text) <= limit:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if size(text[:middle]) + 1 <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def fit_lines(
    lines: list[str], budget: int = LIST_BUDGET, locale: str = DEFAULT_LOCALE, *, total: int | None = None
) -> str:
    """As many whole lines as fit in `budget`, then "…and N more" (of `total` items in all)."""
    total = len(lines) if total is None else total
    tail_room = len(text("and_more", locale, count=total)) + 1
    kept: list[str] = []
    used = 0
    for line in lines:
        last = len(kept) + 1 == total
        if used + len(line) + (0 if last else tail_room) > budget:
            break
        kept.append(line)
        used += len(line) + 1
    if total > len(kept):
        kept.append(text("and_more", locale, count=total - len(kept)))
    return "\n".join(kept)


ZWJ = "\u200d"
_EMOJI_PARTS = ("So", "Sk", "Mn")  # symbols, skin-tone modifiers, the emoji variation selector


def _joins_emoji(text: str, at: int) -> bool:
    """A zero-width joiner between two emoji (🏄‍♂️, 👩‍💻): part of one picture, not a trick."""
    return (
        0 < at < len(text) - 1
        and unicodedata.category(text[at - 1]) in _EMOJI_PARTS
        and unicodedata.category(text[at + 1]) == "So"
    )


def drop_invisible(text: str, *, keep: str = "") -> str:
    """Control, format and direction characters dropped (`keep`: ones to let through), except
    the zero-width joiners inside emoji sequences."""
    return "".join(
        ch
        for at, ch in enumerate(text)
        if ch in keep or unicodedata.category(ch)[0] != "C" or (ch == ZWJ and _joins_emoji(text, at))
    )


def echo(value: object) -> object:
    """User input repeated back: control and direction characters dropped, shortened."""
    if not isinstance(value, str):
        return value
    cleaned = " ".join(drop_invisible(value, keep=" ").split())
    return cleaned if len(cleaned) <= ECHO_MAX else cleaned[: ECHO_MAX - 1].rstrip() + "…"


def duration(seconds: float) -> str:
    """A short human duration: "45 s", "3 min", "2 h 13 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{max(seconds, 1)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def progress_bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else 0
    return "▰" * filled + "▱" * (width - filled)
