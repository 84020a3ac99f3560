/*
 * gen_text_desc.c - komek-gen's complaint descriptions, Russian and
 * Kazakh: the phrase tables per category (core sentences, emergencies,
 * add-on sentences) and the code that composes them; and the
 * Windows-1251 phrase of a malformed record.
 *
 * Contract: a description is valid UTF-8 of 20..600 characters without
 * control characters other than '\n'; gen_text_cp1251 is meant to be
 * invalid UTF-8.
 */
#include "gen.h"

#include <string.h>

#define NELEM(a) GEN_NELEM(a)

/* ---- descriptions ------------------------------------------------------ */

/* Placeholders: {p} entrance, {f} floor, {n} days, {t} degrees, {k} KSK. */
static const char *const gen_text_ru[GEN_NCATS][8] = {
        {"Нет горячей воды с утра", "Нет холодной воды во всём доме",
         "Слабый напор воды, на верхние этажи вода не поднимается",
         "Из крана идёт ржавая вода", "Горячая вода еле тёплая",
         "Течёт труба в подвале, вода заливает подвал",
         "Отключили воду без предупреждения", "Нет горячей воды {n} дня"},
        {"Нет отопления, батареи холодные",
         "В квартире очень холодно, всего {t} градусов",
         "Батареи еле тёплые, дети болеют", "Течёт радиатор отопления",
         "В подъезде не работает отопление",
         "Стояк отопления холодный на верхних этажах",
         "Шумят трубы отопления, воздух в системе", NULL},
        {"Нет света в квартире с вечера", "Нет электричества во всём подъезде",
         "Постоянно скачет напряжение, сгорела техника",
         "Не горит освещение в подъезде",
         "Искрит электрощит на лестничной площадке",
         "Мигает свет, выбивает автоматы", "Нет света на {f} этаже", NULL},
        {"Засор канализации, вода поднимается в ванной",
         "Мусор не вывозят уже {n} дня, контейнеры переполнены",
         "В подвале стоят канализационные стоки, запах по всему подъезду",
         "Мусоропровод забит, в подъезде антисанитария",
         "В подвале крысы и тараканы, нужна дезинсекция",
         "Течёт канализация в подвале", NULL, NULL},
        {"Не работает лифт в подъезде {p}",
         "Лифт застрял между этажами, внутри человек",
         "Лифт не работает уже {n} дня, в доме пожилые люди",
         "Двери лифта не закрываются", "Сильный скрежет в лифте",
         "Не работает кнопка вызова лифта на {f} этаже", NULL, NULL},
        {"Протекает крыша, заливает квартиру на последнем этаже",
         "После дождя с потолка капает вода",
         "Сосульки на крыше над входом в подъезд, опасно",
         "Ветром сорвало кровлю", "Мокрые пятна на потолке, течь с кровли",
         NULL, NULL, NULL},
        {"В подъезде не убирают, грязно",
         "Сломана входная дверь подъезда, домофон не работает",
         "Разбиты окна на лестничной площадке",
         "Не чистят снег во дворе и у подъезда",
         "Сломаны качели на детской площадке",
         "Подвал открыт, там собираются посторонние", NULL, NULL},
        {"Запах газа в подъезде",
         "Сильный запах газа на лестничной площадке {f} этажа",
         "Слабое давление газа, плита еле горит", "Пахнет газом возле счётчика",
         NULL, NULL, NULL, NULL},
        {"Соседи сверху делают ремонт ночью",
         "Не пришли квитанции за коммунальные услуги",
         "{k} не отчитывается о расходовании средств",
         "Неправильно начислили плату за отопление",
         "Во дворе брошенные машины, не проехать", NULL, NULL, NULL},
};

static const char *const gen_text_kk[GEN_NCATS][4] = {
        {"Ыстық су жоқ", "Суық су жоқ, бүкіл үйде", "Судың қысымы әлсіз",
         "Краннан тот басқан су ағады"},
        {"Жылу жоқ, пәтерде суық", "Батареялар суық",
         "Пәтерде {t} градус қана, балалар ауырып жатыр",
         "Жылыту радиаторы ағып тұр"},
        {"Пәтерде жарық жоқ", "Подъезде жарық жанбайды",
         "Кернеу секіреді, техника күйіп кетті", NULL},
        {"Кәріз бітеліп қалды", "Қоқыс {n} күн бойы шығарылмайды",
         "Жертөледе кәріз суы тұр, иіс шығады", NULL},
        {"Лифт істемейді", "Лифт қабаттар арасында тұрып қалды",
         "Лифт {n} күннен бері жұмыс істемейді", NULL},
        {"Шатыр ағып жатыр", "Жаңбырдан кейін төбеден су тамады", NULL, NULL},
        {"Подъезд лас, ешкім жинамайды", "Подъездің есігі сынған",
         "Аулада қар тазаланбайды", NULL},
        {"Подъезде газдың иісі шығады", "Газ қысымы әлсіз", NULL, NULL},
        {"Көршілер түнде шу шығарады", "Коммуналдық төлем дұрыс есептелмеген",
         NULL, NULL},
};

static const char *const gen_text_ru_sos[GEN_NCATS] = {
        "Срочно! Заливает соседей снизу",
        "Срочно! Дома замерзают дети",
        "Опасно, искрит проводка",
        "Срочно, затопило подвал стоками",
        "Срочно! В лифте застрял ребёнок",
        "Срочно! Вода течёт по проводке",
        "Срочно! Обрушился козырёк подъезда",
        "Срочно! Очень сильный запах газа",
        "Срочно, угроза жизни"};
static const char *const gen_text_kk_sos[GEN_NCATS] = {
        "Шұғыл! Төменгі көршілерді су басып жатыр",
        "Шұғыл! Үйде балалар тоңып жатыр",
        "Қауіпті, сым ұшқындайды",
        "Шұғыл! Жертөлені кәріз басты",
        "Шұғыл! Лифтте бала қалып қойды",
        "Шұғыл! Су электр сымдарына ағып жатыр",
        "Шұғыл! Подъезд күнқағары құлады",
        "Шұғыл! Газдың иісі қатты",
        "Шұғыл, өмірге қауіп бар"};

/* Add-on sentences: [0] when, [1] where, [2] plea, [3] family, [4] repeat,
 * [5] a longer story. */
static const char *const gen_text_ru_add[6][6] = {
        {"С утра", "Со вчерашнего вечера", "Уже {n} дня", "Вторую неделю",
         "С понедельника", "С ночи"},
        {"Подъезд {p}", "{f} этаж", "Подъезд {p}, {f} этаж", "подъезд {p}",
         "Подъезд {p}", "{f} этаж"},
        {"Просим срочно принять меры", "Прошу разобраться",
         "Звонили в КСК, трубку не берут", "{k} не реагирует на заявки",
         "Мастер обещал прийти и не пришёл", "Сколько можно терпеть?"},
        {"В квартире маленькие дети", "Дома пожилые родители",
         "В доме живут инвалиды", "Дома грудной ребёнок",
         "В квартире маленькие дети", "Дома пожилые родители"},
        {"Обращаюсь повторно!",
         "Уже писали на этой неделе, ничего не "
         "сделано",
         "Это уже не первая заявка", "Повторная заявка", "Соседи тоже жалуются",
         "Проблема снова повторилась"},
        {"Мы уже {n} раза обращались в {k}, каждый раз обещают прислать "
         "мастера, но никто так и не пришёл",
         "В квартире живут пожилые родители и маленький ребёнок, без этого "
         "жить невозможно, особенно в такую погоду",
         "Соседи с других этажей жалуются на то же самое, проблема касается "
         "всего подъезда, а не одной квартиры",
         "Председатель КСК на звонки не отвечает, в офисе говорят, что "
         "заявка принята, но сроков никто не называет",
         "Прошу зафиксировать обращение и проконтролировать выполнение, так "
         "как это уже не первый раз за этот месяц",
         "За коммунальные услуги платим вовремя, долгов нет, поэтому просим "
         "выполнить свои обязательства"},
};
static const char *const gen_text_kk_add[6][3] = {
        {"Таңертеңнен бері", "{n} күн болды", "Кешеден бері"},
        {"{p}-подъезд", "{f}-қабат", "{p}-подъезд, {f}-қабат"},
        {"Тезірек шара қолдануларыңызды сұраймыз", "КСК телефон көтермейді",
         "{k} жауап бермейді"},
        {"Үйде кішкентай балалар бар", "Үйде қарт адамдар тұрады",
         "Үйде кішкентай балалар бар"},
        {"Қайта жазып отырмын!", "Бұл бірінші өтініш емес",
         "Көршілер де шағымданып жатыр"},
        {"{k} бірнеше рет хабарластық, шебер жібереміз деп уәде береді, "
         "бірақ ешкім келген жоқ",
         "Үйде қарт ата-анам мен кішкентай бала тұрады, мұндай жағдайда өмір "
         "сүру мүмкін емес",
         "Коммуналдық қызметтерге уақытында төлейміз, қарызымыз жоқ, "
         "сондықтан міндеттерін орындауды сұраймыз"},
};

static size_t gen_text_count(const char *const *tab, size_t n)
{
        size_t k = 0;

        while (k < n && tab[k])
                k++;
        return k;
}

static void gen_text_expand(struct gen_sb *sb, struct gen_rng *rng,
                            const char *tmpl, const struct gen_desc *d)
{
        for (const char *p = tmpl; *p; p++) {
                if (p[0] != '{' || !p[1] || p[2] != '}') {
                        gen_sb_putc(sb, *p);
                        continue;
                }
                switch (p[1]) {
                case 'p':
                        gen_sb_printf(sb, "%ld",
                                      gen_rng_range(rng, 1, d->entrances));
                        break;
                case 'f':
                        gen_sb_printf(sb, "%ld",
                                      gen_rng_range(rng, 1, d->floors));
                        break;
                case 'n':
                        gen_sb_printf(sb, "%ld", gen_rng_range(rng, 2, 4));
                        break;
                case 't':
                        gen_sb_printf(sb, "%ld", gen_rng_range(rng, 11, 16));
                        break;
                default: /* 'k': sometimes with plain ASCII quotes */
                        if (!d->ksk_name) {
                                gen_sb_puts(sb, "КСК");
                        } else if (gen_rng_chance(rng, 0.3)) {
                                for (const char *q = d->ksk_name; *q;) {
                                        bool ang = !strncmp(q, "«", 2) ||
                                                   !strncmp(q, "»", 2);

                                        gen_sb_putn(sb, ang ? "\"" : q, 1);
                                        q += ang ? 2 : 1;
                                }
                        } else {
                                gen_sb_puts(sb, d->ksk_name);
                        }
                }
                p += 2;
        }
}

/* Append sentence @p tmpl, after ". " (or a newline) unless it is the
 * first; one starting in lower case ("подъезд 3") continues the last one
 * after a comma. Sentences end with "." unless they end with ! or ?. */
static void gen_text_sentence(struct gen_sb *sb, struct gen_rng *rng,
                              const char *tmpl, const struct gen_desc *d,
                              bool nl)
{
        uint32_t cp;

        gen_text_decode(tmpl, &cp);
        if (sb->len && gen_text_upper(cp) != cp) {
                gen_sb_puts(sb, ", ");
        } else if (sb->len) {
                if (!strchr("!?", sb->buf[sb->len - 1]))
                        gen_sb_putc(sb, '.');
                gen_sb_putc(sb, nl ? '\n' : ' ');
        }
        gen_text_expand(sb, rng, tmpl, d);
}

/**
 * @brief Append a realistic description of 20..600 characters.
 */
void gen_text_description(struct gen_sb *sb, struct gen_rng *rng,
                          const struct gen_desc *d)
{
        static const double p_add[6] = {0.45, 0.45, 0.4, 0.12, 0, 0.12};
        size_t start = sb->len, nadd = 0;
        struct gen_sb s = {0};
        bool nl = d->digital && gen_rng_chance(rng, 0.1);
        bool shout = d->digital && gen_rng_chance(rng, 0.1);
        const char *core;

        if (d->kazakh)
                core = gen_text_kk[d->cat][gen_rng_below(
                        rng, gen_text_count(gen_text_kk[d->cat], 4))];
        else
                core = gen_text_ru[d->cat][gen_rng_below(
                        rng, gen_text_count(gen_text_ru[d->cat], 8))];
        if (d->emergency)
                gen_text_sentence(&s, rng,
                                  d->kazakh ? gen_text_kk_sos[d->cat]
                                            : gen_text_ru_sos[d->cat],
                                  d, nl);
        gen_text_sentence(&s, rng, core, d, nl);
        if (shout)
                gen_text_case(&s, 'u');
        for (int g = 0; g < 6; g++) {
                long k = g == 4 ? d->repeat : gen_rng_chance(rng, p_add[g]);

                if (g == 0 && strstr(core, "{n}"))
                        k = 0; /* "3 дня" said already */
                if (g == 5 && k)
                        k = gen_rng_chance(rng, 0.3) ? 3 : 1;
                for (long j = gen_rng_range(rng, 0, 5); k > 0; k--, j++) {
                        if (gen_text_chars(s.buf) > 420)
                                break; /* stays within 600 characters */
                        gen_text_sentence(&s, rng,
                                          d->kazakh ? gen_text_kk_add[g][j % 3]
                                                    : gen_text_ru_add[g][j % 6],
                                          d, nl);
                        nadd++;
                }
        }
        if (nadd == 0 || gen_text_chars(s.buf) < 20)
                gen_text_sentence(&s, rng,
                                  d->kazakh ? gen_text_kk_add[0][0]
                                            : gen_text_ru_add[0][0],
                                  d, nl);
        if (d->operator&& gen_rng_chance(rng, 0.35)) {
                gen_text_case(&s, 'f');
                gen_sb_puts(sb, d->kazakh ? "Тұрғын хабарлайды: "
                                          : "Заявитель сообщает: ");
        }
        gen_sb_puts(sb, s.buf);
        if (shout)
                gen_sb_puts(sb, "!!!");
        else if (!d->digital || gen_rng_chance(rng, 0.7))
                if (!strchr("!?", sb->buf[sb->len - 1]))
                        gen_sb_putc(sb, '.');
        if (!d->kazakh && gen_rng_chance(rng, 0.4)) {
                struct gen_sb tail = {0};

                gen_sb_puts(&tail, sb->buf + start);
                gen_text_case(&tail, 'e');
                sb->len = start;
                gen_sb_puts(sb, tail.buf);
                gen_sb_free(&tail);
        }
        gen_sb_free(&s);
}

/** @brief Append a Russian phrase in Windows-1251: invalid UTF-8. */
void gen_text_cp1251(struct gen_sb *sb, struct gen_rng *rng)
{
        static const char *const phrase[] = {
                "Нет горячей воды второй день", "Не работает лифт",
                "Нет отопления в квартире", "Протекает крыша над подъездом"};
        const char *p = phrase[gen_rng_below(rng, NELEM(phrase))];

        while (*p) {
                uint32_t cp;

                p = gen_text_decode(p, &cp);
                if (cp >= 0x410 && cp <= 0x44f)
                        cp = 0xc0 + (cp - 0x410);
                gen_sb_putc(sb, (char)cp);
        }
}
