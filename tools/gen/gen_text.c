/*
 * gen_text.c - the words of komek-gen: street tables, organisation and
 * person names, complaint descriptions (Russian and Kazakh), and the
 * UTF-8 helpers (case, ё/е, Latin transliteration) that gen_dir.c uses to
 * spell addresses the ways residents do.
 *
 * Contract: every string produced is valid UTF-8 without control
 * characters other than '\n' (the one exception is gen_text_cp1251, which
 * is meant to be invalid UTF-8). Canonical street names are
 * "<type> <proper name>"; proper names are unique across types, so an
 * address without the type word still names one street.
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#define NELEM(a) GEN_NELEM(a)

/* ---- streets ----------------------------------------------------------- */

struct gen_text_street {
        const char *name;
        const char *kz;
        int district;
};

/* A street listed twice (Кенесары, Кабанбай батыра) crosses two
 * districts; its house numbers are shared (gen_dir.c). */
static const struct gen_text_street gen_text_street_tab[] = {
        {"проспект Абая", "Абай даңғылы", 0},
        {"улица Кенесары", "Кенесары көшесі", 0},
        {"улица Петрова", NULL, 0},
        {"улица Тлендиева", "Тлендиев көшесі", 0},
        {"улица Жирентаева", NULL, 0},
        {"улица Манаса", "Манас көшесі", 0},
        {"улица Рыскулбекова", NULL, 0},
        {"улица Мусрепова", NULL, 0},
        {"проспект Тауелсиздик", "Тәуелсіздік даңғылы", 0},
        {"улица Косшыгулулы", "Қосшығұлұлы көшесі", 0},
        {"улица Жумабаева", NULL, 0},
        {"улица Бекхожина", NULL, 0},
        {"улица Шокая", NULL, 0},
        {"улица Королёва", NULL, 0},
        {"улица Асфендиярова", NULL, 0},
        {"улица Карасай батыра", "Қарасай батыр көшесі", 0},
        {"улица Сейфуллина", "Сейфуллин көшесі", 1},
        {"улица Ауэзова", "Әуезов көшесі", 1},
        {"улица Бейсекбаева", NULL, 1},
        {"улица Жангельдина", NULL, 1},
        {"улица Кравцова", NULL, 1},
        {"улица Пушкина", NULL, 1},
        {"улица Иманова", "Иманов көшесі", 1},
        {"улица Габдуллина", NULL, 1},
        {"улица Ташенова", NULL, 1},
        {"проспект Богенбай батыра", "Бөгенбай батыр даңғылы", 1},
        {"улица Шевченко", NULL, 1},
        {"улица Биржан сал", "Біржан сал көшесі", 1},
        {"улица Отырар", "Отырар көшесі", 1},
        {"улица Новосёлов", NULL, 1},
        {"проспект Мангилик Ел", "Мәңгілік Ел даңғылы", 2},
        {"улица Сыганак", "Сығанақ көшесі", 2},
        {"улица Достык", "Достық көшесі", 2},
        {"проспект Туран", "Тұран даңғылы", 2},
        {"улица Кабанбай батыра", "Қабанбай батыр көшесі", 2},
        {"улица Орынбор", "Орынбор көшесі", 2},
        {"улица Акмешит", "Ақмешіт көшесі", 2},
        {"улица Туркестан", "Түркістан көшесі", 2},
        {"улица Хусейн бен Талал", NULL, 2},
        {"улица Керей Жанибек хандар", "Керей, Жәнібек хандар көшесі", 2},
        {"проспект Улы Дала", "Ұлы Дала даңғылы", 2},
        {"улица Динмухамеда Кунаева", "Дінмұхамед Қонаев көшесі", 2},
        {"улица Алихана Бокейхана", "Әлихан Бөкейхан көшесі", 2},
        {"улица Бухар жырау", NULL, 2},
        {"бульвар Нуржол", "Нұржол бульвары", 2},
        {"улица Мухамедханова", NULL, 2},
        {"улица Байтурсынова", "Байтұрсынұлы көшесі", 3},
        {"улица Калдаякова", NULL, 3},
        {"улица Нажимеденова", NULL, 3},
        {"улица Чурина", NULL, 3},
        {"улица Шаханова", NULL, 3},
        {"улица Акан серы", "Ақан сері көшесі", 3},
        {"улица Кордай", NULL, 3},
        {"улица Сауран", "Сауран көшесі", 3},
        {"улица Аманжолова", NULL, 3},
        {"улица Тасшокы", NULL, 3},
        {"улица Улытау", "Ұлытау көшесі", 3},
        {"проспект Кошкарбаева", NULL, 3},
        {"шоссе Коргалжын", "Қорғалжын тас жолы", 3},
        {"проспект Республики", "Республика даңғылы", 4},
        {"улица Кенесары", "Кенесары көшесі", 4},
        {"улица Бейбитшилик", "Бейбітшілік көшесі", 4},
        {"улица Бигельдинова", NULL, 4},
        {"улица Валиханова", "Уәлиханов көшесі", 4},
        {"улица Московская", NULL, 4},
        {"улица Брусиловского", NULL, 4},
        {"улица Жубанова", NULL, 4},
        {"проспект Сарыарка", "Сарыарқа даңғылы", 4},
        {"проспект Женис", "Жеңіс даңғылы", 4},
        {"улица Акжол", NULL, 4},
        {"улица Желтоксан", "Желтоқсан көшесі", 4},
        {"улица Потанина", NULL, 4},
        {"переулок Ташкентский", NULL, 4},
        {"улица Циолковского", NULL, 4},
        {"улица Кабанбай батыра", "Қабанбай батыр көшесі", 5},
        {"улица Сарайшык", "Сарайшық көшесі", 5},
        {"улица Азербаева", NULL, 5},
        {"улица Аргынбекова", NULL, 5},
        {"улица Енбекшилер", "Еңбекшілер көшесі", 5},
        {"улица Бараева", NULL, 5},
        {"улица Темирказык", NULL, 5},
        {"улица Сарыкенгир", NULL, 5},
        {"улица Акыртас", NULL, 5},
        {"улица Иле", "Іле көшесі", 5},
        {"улица Шарля де Голля", NULL, 5},
};

/** @returns the number of listed streets; fills entry @p i if in range. */
size_t gen_text_streets(size_t i, const char **name, const char **kz,
                        int *district)
{
        if (name && i < NELEM(gen_text_street_tab)) {
                *name = gen_text_street_tab[i].name;
                *kz = gen_text_street_tab[i].kz;
                *district = gen_text_street_tab[i].district;
        }
        return NELEM(gen_text_street_tab);
}

/* More real-looking names (after "улица "), handed to districts that
 * need more streets: the old right bank first. */
static const char *const gen_text_pool[] = {
        "Абылхаира",
        "Айманова",
        "Алтынсарина",
        "Ахмедьярова",
        "Баймагамбетова",
        "Бокенбаева",
        "Гумилёва",
        "Джамбула",
        "Дулатова",
        "Ермекова",
        "Есенберлина",
        "Жансугурова",
        "Затаевича",
        "Ибраева",
        "Исаева",
        "Камзина",
        "Карменова",
        "Кажымукана",
        "Кумисбекова",
        "Куанышбаева",
        "Кудайбердиева",
        "Майлина",
        "Макатаева",
        "Мауленова",
        "Муканова",
        "Мустафина",
        "Мынбаева",
        "Оспанова",
        "Панфилова",
        "Розыбакиева",
        "Сатпаева",
        "Сейдимбека",
        "Сулейменова",
        "Тайманова",
        "Торайгырова",
        "Утепова",
        "Чайковского",
        "Чокина",
        "Шарипова",
        "Шакарима",
        "Шашкина",
        "Есенова",
        "Пичугина",
        "Мирзояна",
        "Жетысу",
        "Бирлик",
        "Тулпар",
        "Самал",
        "Шугыла",
        "Ертис",
        "Тобол",
        "Маресьева",
        "Баянауыл",
        "Бурабай",
        "Зеренда",
        "Каркаралы",
        "Кокшетау",
        "Жезказган",
        "Караганды",
        "Павлодар",
        "Петропавл",
        "Семей",
        "Тараз",
        "Шымкент",
        "Актобе",
        "Атырау",
        "Орал",
        "Костанай",
        "Кызылорда",
        "Талдыкорган",
        "Экибастуз",
        "Балхаш",
        "Жайык",
        "Сырдарья",
        "Алаколь",
        "Маркаколь",
        "Зайсан",
        "Каспий",
        "Степная",
        "Целинная",
        "Транспортная",
        "Строителей",
        "Железнодорожная",
        "Промышленная",
        "Вокзальная",
        "Гоголя",
        "Лермонтова",
        "Толстого",
        "Чехова",
        "Горького",
        "Маяковского",
        "Островского",
        "Менделеева",
        "Ломоносова",
        "Мичурина",
        "Тургенева",
        "Крылова",
        "Некрасова",
        "Курмангазы",
        "Нурпеисовой",
        "Молдагуловой",
        "Маметовой",
        "Кашаубаева",
        "Иманжусупа",
        "Байкадамова",
        "Жиенкуловой",
        "Таттимбета",
        "Ыкылас",
        "Алаш",
        "Отан",
        "Наурызбай батыра",
        "Толе би",
        "Тургут Озала",
        "Ак Берен",
        "Алтын Орда",
        "Айтеке би",
        "Акын Сары",
        "Тауке хана",
};

/** @returns pool name @p i without the type word, or NULL past the end. */
const char *gen_text_pool_street(size_t i)
{
        return i < NELEM(gen_text_pool) ? gen_text_pool[i] : NULL;
}

/* Streets that do not exist in the directory (unknown addresses). */
const char *gen_text_fake_street(struct gen_rng *rng)
{
        static const char *const fake[] = {
                "улица Садовая",   "улица Лесная",    "переулок Тихий",
                "улица Солнечная", "улица Цветочная", "улица Заречная",
                "улица Полевая",   "улица Школьная",  "улица Набережная",
                "улица Луговая"};

        return fake[gen_rng_below(rng, NELEM(fake))];
}

/* ---- UTF-8, case, transliteration ------------------------------------- */

static const char *gen_text_decode(const char *p, uint32_t *cp)
{
        const unsigned char *s = (const unsigned char *)p;

        if (s[0] < 0x80) {
                *cp = s[0];
                return p + 1;
        }
        if ((s[0] & 0xe0) == 0xc0 && s[1]) {
                *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
                return p + 2;
        }
        if ((s[0] & 0xf0) == 0xe0 && s[1] && s[2]) {
                *cp = ((uint32_t)(s[0] & 0x0f) << 12) |
                      ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
                return p + 3;
        }
        *cp = '?';
        return p + 1;
}

static void gen_text_encode(struct gen_sb *sb, uint32_t cp)
{
        char b[3];

        if (cp < 0x80) {
                gen_sb_putc(sb, (char)cp);
        } else if (cp < 0x800) {
                b[0] = (char)(0xc0 | (cp >> 6));
                b[1] = (char)(0x80 | (cp & 0x3f));
                gen_sb_putn(sb, b, 2);
        } else {
                b[0] = (char)(0xe0 | (cp >> 12));
                b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                b[2] = (char)(0x80 | (cp & 0x3f));
                gen_sb_putn(sb, b, 3);
        }
}

/* Kazakh letters outside the Russian block come in upper/lower pairs. */
static bool gen_text_kz_pair(uint32_t cp)
{
        return (cp >= 0x492 && cp <= 0x4bb) || (cp >= 0x4d8 && cp <= 0x4e9);
}

static uint32_t gen_text_lower(uint32_t cp)
{
        if (cp >= 'A' && cp <= 'Z')
                return cp + 32;
        if (cp >= 0x410 && cp <= 0x42f)
                return cp + 0x20;
        if (cp >= 0x400 && cp <= 0x40f)
                return cp + 0x50;
        if (gen_text_kz_pair(cp) && !(cp & 1))
                return cp + 1;
        return cp;
}

static uint32_t gen_text_upper(uint32_t cp)
{
        if (cp >= 'a' && cp <= 'z')
                return cp - 32;
        if (cp >= 0x430 && cp <= 0x44f)
                return cp - 0x20;
        if (cp >= 0x450 && cp <= 0x45f)
                return cp - 0x50;
        if (gen_text_kz_pair(cp) && (cp & 1))
                return cp - 1;
        return cp;
}

/**
 * @brief Rewrite @p sb in place. @p mode: 'l' lower case, 'u' upper case,
 * 'e' ё -> е, 'f' lower the first letter unless it starts an acronym.
 */
void gen_text_case(struct gen_sb *sb, int mode)
{
        char *copy = gen_xstrdup(sb->buf ? sb->buf : "");
        const char *p = copy;
        bool first = true;

        gen_sb_reset(sb);
        while (*p) {
                uint32_t cp;

                p = gen_text_decode(p, &cp);
                if (mode == 'l')
                        cp = gen_text_lower(cp);
                else if (mode == 'u')
                        cp = gen_text_upper(cp);
                else if (mode == 'e' && (cp == 0x451 || cp == 0x401))
                        cp = cp == 0x451 ? 0x435 : 0x415;
                else if (mode == 'f' && first) {
                        uint32_t next;

                        gen_text_decode(p, &next);
                        if (gen_text_lower(next) == next)
                                cp = gen_text_lower(cp);
                }
                first = false;
                gen_text_encode(sb, cp);
        }
        free(copy);
}

static const char *gen_text_latin(uint32_t cp)
{
        static const char *const ru[] = {
                "a",  "b",  "v",  "g",    "d", "e", "zh", "z", "i",  "y", "k",
                "l",  "m",  "n",  "o",    "p", "r", "s",  "t", "u",  "f", "kh",
                "ts", "ch", "sh", "shch", "",  "y", "",   "e", "yu", "ya"};

        cp = gen_text_lower(cp);
        if (cp >= 0x430 && cp <= 0x44f)
                return ru[cp - 0x430];
        switch (cp) {
        case 0x451:
                return "e";
        case 0x456:
                return "i";
        case 0x4d9:
                return "a";
        case 0x493:
                return "g";
        case 0x49b:
                return "k";
        case 0x4a3:
                return "n";
        case 0x4e9:
                return "o";
        case 0x4b1:
                return "u";
        case 0x4af:
                return "u";
        case 0x4bb:
                return "h";
        default:
                return NULL;
        }
}

/** @brief Append @p s transliterated to Latin, keeping capitals. */
void gen_text_translit(struct gen_sb *sb, const char *s)
{
        while (*s) {
                uint32_t cp;
                const char *next = gen_text_decode(s, &cp);
                const char *lat = gen_text_latin(cp);

                if (!lat) {
                        gen_sb_putn(sb, s, (size_t)(next - s));
                } else if (*lat && gen_text_lower(cp) != cp) {
                        gen_sb_putc(sb, (char)(lat[0] - 32));
                        gen_sb_puts(sb, lat + 1);
                } else {
                        gen_sb_puts(sb, lat);
                }
                s = next;
        }
}

/** @returns the length of @p s in characters (UTF-8 code points). */
size_t gen_text_chars(const char *s)
{
        size_t n = 0;

        for (; *s; s++)
                n += ((unsigned char)*s & 0xc0) != 0x80;
        return n;
}

/* ---- organisations and people ------------------------------------------ */

static const char *const gen_text_ksk_words[] = {
        "Жулдыз",       "Береке",
        "Достык",       "Шанырак",
        "Нурлы Жол",    "Самал",
        "Айкоркем",     "Акбулак",
        "Байтерек",     "Болашак",
        "Жастар",       "Ынтымак",
        "Керуен",       "Арман",
        "Мерей",        "Жетысу",
        "Тулпар",       "Салтанат",
        "Шапагат",      "Ак Ниет",
        "Атамекен",     "Коктем",
        "Сункар",       "Кулагер",
        "Мирас",        "Оркен",
        "Умит",         "Нурсая",
        "Жайлау",       "Каусар",
        "Тумар",        "Аспан",
        "Ак Орда",      "Аққу",
        "Алтын Дала",   "Бірлік",
        "Ару",          "Жансая",
        "Сапа",         "Қазына",
        "Ырыс",         "Уют",
        "Комфорт",      "Наш Дом",
        "Уютный Дом",   "Северное Сияние",
        "Звезда",       "Надежда",
        "Восход",       "Рассвет",
        "Заря",         "Мечта",
        "Радуга",       "Юбилейный",
        "Прогресс",     "Шуақ",
        "Нұр",          "Сенім",
        "Тірек",        "Жаңа Үй",
        "Есиль Сервис", "Мой Двор",
        "Гармония",     "Содружество"};

/** @brief KSK / ОСИ / management company name, unique by index @p i. */
void gen_text_ksk_name(struct gen_sb *sb, struct gen_rng *rng, size_t i)
{
        static const char *const pre[] = {"КСК «", "КСК «", "КСК «",   "ОСИ «",
                                          "ОСИ «", "ПТ «",  "ТОО «УК "};
        size_t w = NELEM(gen_text_ksk_words);

        gen_sb_puts(sb, GEN_PICK(rng, pre));
        gen_sb_puts(sb, gen_text_ksk_words[i % w]);
        if (i >= w)
                gen_sb_printf(sb, "-%zu", i / w + 1);
        gen_sb_puts(sb, "»");
}

void gen_text_lift_name(struct gen_sb *sb, size_t i)
{
        static const char *const root[] = {
                "Астана",  "Сарыарка", "Есиль",   "Нура",   "Байконур",
                "Кулан",   "Алтай",    "Тенгри",  "Жетысу", "Орда",
                "Капитал", "Номад",    "Евразия", "Ертис",  "Тобол",
                "Арыс",    "Шыгыс",    "Батыс",   "Самрук", "Кокше"};
        static const char *const pat[][2] = {{"ТОО «Лифт Сервис ", "»"},
                                             {"ТОО «", " Лифт»"},
                                             {"ТОО «", "ЛифтМонтаж»"},
                                             {"ТОО «Лифтовая компания ", "»"}};
        size_t r = NELEM(root), p = NELEM(pat);

        gen_sb_puts(sb, pat[(i / r) % p][0]);
        gen_sb_puts(sb, root[i % r]);
        if (i >= r * p)
                gen_sb_printf(sb, "-%zu", i / (r * p) + 1);
        gen_sb_puts(sb, pat[(i / r) % p][1]);
}

void gen_text_util_name(struct gen_sb *sb, size_t i)
{
        static const char *const util[] = {
                "АО «Астана-Энергосбыт»",    "АО «Астана-РЭК»",
                "ГКП «Астана Су Арнасы»",    "АО «Астана-Теплотранзит»",
                "АО «Астана-Энергия»",       "ТОО «Астана-Тазалық»",
                "АО «QazaqGaz Аймақ»",       "ТОО «Астана Газ Сервис»",
                "ГКП «Елорда Жасыл Әлем»",   "ТОО «Clean City Astana»",
                "ТОО «Астана Жарық»",        "ТОО «Эко Тазалык»",
                "ТОО «Астана-ЕРЦ»",          "ГКП «Астана Жылу»",
                "ТОО «Теплосервис Астана»",  "ТОО «Водоканал-Сервис»",
                "ТОО «Электросеть Астана»",  "ТОО «Дезсервис Астана»",
                "ГКП «Горкомхоз Астаны»",    "ТОО «Снег Астана»",
                "ТОО «Астана Ливнёвка»",     "ТОО «Казахтелеком Астана»",
                "ТОО «Аварийная служба 24»", "ГКП «Астана Тазарту»",
                "ТОО «Энергоаудит Астана»"};
        size_t n = NELEM(util);

        gen_sb_puts(sb, util[i % n]);
        if (i >= n)
                gen_sb_printf(sb, " (филиал %zu)", i / n + 1);
}

void gen_text_office_phone(char *buf, size_t len, struct gen_rng *rng)
{
        long a = gen_rng_range(rng, 20, 79), b = gen_rng_range(rng, 0, 99),
             c = gen_rng_range(rng, 0, 99);

        snprintf(buf, len, "+7 (7172) %02ld-%02ld-%02ld", a, b, c);
}

/** @brief Fake "+77011234567" mobile from hash @p h (same h, same phone). */
void gen_text_mobile(char *buf, size_t len, uint64_t h, bool pretty)
{
        static const char *const op[] = {"700", "701", "702", "705",
                                         "707", "708", "747", "771",
                                         "775", "776", "777", "778"};
        const char *o = op[h % NELEM(op)];
        unsigned long n = (unsigned long)((h / NELEM(op)) % 10000000);

        if (pretty)
                snprintf(buf, len, "+7 %s %03lu %02lu %02lu", o, n / 10000,
                         n / 100 % 100, n % 100);
        else
                snprintf(buf, len, "+7%s%07lu", o, n);
}

void gen_text_person(struct gen_sb *sb, struct gen_rng *rng)
{
        static const char *const kz_m[] = {
                "Ерлан",  "Нурлан", "Асхат",  "Данияр", "Бауыржан", "Ерболат",
                "Айдос",  "Арман",  "Серик",  "Марат",  "Ержан",    "Дамир",
                "Азамат", "Бекзат", "Талгат", "Канат",  "Нуржан",   "Ербол"};
        static const char *const kz_f[] = {
                "Айгерим",  "Айгуль",   "Гульнара", "Динара", "Жанар",
                "Сауле",    "Асель",    "Мадина",   "Дана",   "Алия",
                "Гульмира", "Карлыгаш", "Назерке",  "Аружан", "Салтанат",
                "Жансая",   "Айжан"};
        static const char *const kz_s[] = {
                "Ахметов",     "Жумабаев",   "Искаков",  "Садыков",
                "Тулегенов",   "Бекмуханов", "Касымов",  "Нургалиев",
                "Абдрахманов", "Сейткалиев", "Омаров",   "Серикбаев",
                "Ермеков",     "Кенжебеков", "Исмаилов", "Жакупов",
                "Мусин",       "Байжанов",   "Смагулов", "Есенов"};
        static const char *const ru_m[] = {
                "Иван",   "Сергей",  "Алексей",  "Дмитрий", "Андрей",
                "Виктор", "Николай", "Владимир", "Евгений", "Олег"};
        static const char *const ru_f[] = {
                "Ольга", "Елена",   "Татьяна", "Наталья", "Светлана",
                "Ирина", "Людмила", "Анна",    "Галина",  "Юлия"};
        static const char *const ru_s[] = {
                "Иванов",   "Петров",  "Смирнов", "Кузнецов", "Попов",
                "Васильев", "Соколов", "Морозов", "Новиков",  "Фёдоров",
                "Ковалёв",  "Лебедев", "Ким",     "Шевченко", "Цой"};
        static const char *const patr[][2] = {
                {"Сергеевич", "Сергеевна"},
                {"Викторович", "Викторовна"},
                {"Нурланович", "Нурлановна"},
                {"Маратович", "Маратовна"},
                {"Александрович", "Александровна"}};
        bool kz = gen_rng_chance(rng, 0.65), fem = gen_rng_chance(rng, 0.55);
        const char *first, *sur;
        bool declines;
        double r = gen_rng_unit(rng);

        if (kz) {
                first = fem ? GEN_PICK(rng, kz_f) : GEN_PICK(rng, kz_m);
                sur = GEN_PICK(rng, kz_s);
        } else {
                first = fem ? GEN_PICK(rng, ru_f) : GEN_PICK(rng, ru_m);
                sur = GEN_PICK(rng, ru_s);
        }
        /* Ким, Цой, Шевченко do not take a feminine ending */
        declines = strcmp(sur, "Ким") && strcmp(sur, "Цой") &&
                   strcmp(sur, "Шевченко");
        if (r < 0.10) {
                gen_sb_puts(sb, first);
                return;
        }
        if (r < 0.35) {
                gen_sb_puts(sb, sur);
                if (fem && declines)
                        gen_sb_puts(sb, "а");
                gen_sb_printf(sb, " %s", first);
                if (r < 0.15)
                        gen_sb_printf(
                                sb, " %s",
                                patr[gen_rng_below(rng, NELEM(patr))][fem]);
                return;
        }
        gen_sb_printf(sb, "%s %s", first, sur);
        if (fem && declines)
                gen_sb_puts(sb, "а");
}

void gen_text_noise(struct gen_sb *sb, struct gen_rng *rng)
{
        double r = gen_rng_unit(rng);
        char *sp;

        if (r < 0.12)
                gen_text_case(sb, 'l');
        else if (r < 0.17)
                gen_text_case(sb, 'u');
        if (gen_rng_chance(rng, 0.08) && (sp = strchr(sb->buf, ' '))) {
                size_t at = (size_t)(sp - sb->buf);
                char *copy = gen_xstrdup(sb->buf);

                gen_sb_reset(sb);
                gen_sb_putn(sb, copy, at);
                gen_sb_puts(sb, "  ");
                gen_sb_puts(sb, copy + at + 1);
                free(copy);
        }
        r = gen_rng_unit(rng);
        if (r < 0.03)
                gen_sb_putc(sb, ' ');
        else if (r < 0.05)
                gen_sb_putc(sb, r < 0.04 ? ',' : '.');
}

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
