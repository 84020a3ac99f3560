/*
 * web_i18n.c - the UI in Russian and English: one row per message id,
 * {en, ru}.  Category names come from komek.conf (categories ru/en).
 */
#include <string.h>

#include "web.h"

static const char *const web_msgs[M_COUNT][2] = {
        [M_TITLE] = {"komek", "komek"},
        [M_LOGIN] = {"Sign in", "Вход"},
        [M_LOGIN_NAME] = {"Login", "Логин"},
        [M_PASSWORD] = {"Password", "Пароль"},
        [M_LOGIN_BUTTON] = {"Sign in", "Войти"},
        [M_LOGOUT] = {"Sign out", "Выйти"},
        [M_BAD_LOGIN] = {"Wrong login or password.",
                         "Неверный логин или пароль."},
        [M_LOCKED] =
                {"Too many failed sign-ins. Try again later.",
                 "Слишком много неудачных попыток входа. Попробуйте позже."},
        [M_FORM_EXPIRED] = {"The form has expired. Please try again.",
                            "Форма устарела. Попробуйте ещё раз."},
        [M_INBOX] = {"Inbox", "Входящие"},
        [M_DASHBOARD] = {"Dashboard", "Панель аналитика"},
        [M_OPEN_TASKS] = {"Open tasks", "Открытые заявки"},
        [M_OVERDUE] = {"Overdue", "Просрочено"},
        [M_DUE] = {"Due", "Срок"},
        [M_CATEGORY] = {"Category", "Категория"},
        [M_ADDRESS] = {"Address", "Адрес"},
        [M_STATUS] = {"Status", "Статус"},
        [M_RECEIVED] = {"Received", "Поступила"},
        [M_DESCRIPTION] = {"Description", "Описание"},
        [M_NO_TASKS] = {"No open tasks.", "Открытых заявок нет."},
        [M_TASK] = {"Task", "Заявка"},
        [M_HISTORY] = {"History", "История"},
        [M_CONTACT] = {"Resident's contact", "Контакт жителя"},
        [M_ACK] = {"Acknowledge", "Принять в работу"},
        [M_RESOLVE] = {"Resolve", "Выполнено"},
        [M_REJECT] = {"Reject (not ours)", "Отклонить (не наша)"},
        [M_NOTE] = {"What was done", "Что сделано"},
        [M_REASON] = {"Why it is not ours", "Почему не наша"},
        [M_CORRECT_CATEGORY] = {"Correct category", "Верная категория"},
        [M_CORRECT_BUILDING] = {"Correct building id", "Верный id дома"},
        [M_NONE] = {"(no correction)", "(без исправления)"},
        [M_BACK] = {"Back to the inbox", "Назад к заявкам"},
        [M_DONE_ACK] = {"Task acknowledged.", "Заявка принята в работу."},
        [M_RESIDENT] = {"the resident", "житель"},
        [M_DONE_RESOLVE] = {"Task resolved.", "Заявка выполнена."},
        [M_DONE_REJECT] = {"Task rejected and re-routed.",
                           "Заявка отклонена и перенаправлена."},
        [M_REFUSED] = {"Not done:", "Не выполнено:"},
        [M_NOT_FOUND] = {"Not found.", "Не найдено."},
        [M_FORBIDDEN] = {"This page is not for your account.",
                         "Эта страница недоступна для вашей учётной записи."},
        [M_CSRF] =
                {"The form token is missing or wrong. Reload the page and try again.",
                 "Токен формы отсутствует или неверен. Обновите страницу и повторите."},
        [M_UNAVAILABLE] = {"The database is not available. Try again shortly.",
                           "База данных недоступна. Повторите чуть позже."},
        [M_TIMES_LOCAL] = {"Times are local (UTC%+d).",
                           "Время местное (UTC%+d)."},
        [M_PAGE] = {"Page", "Страница"},
        [M_NEXT] = {"Next", "Дальше"},
        [M_PREV] = {"Previous", "Назад"},
        [M_WEEK] = {"Week", "Неделя"},
        [M_THIS_WEEK] = {"This week", "За неделю"},
        [M_PREV_WEEK] = {"Previous week", "Неделей ранее"},
        [M_CHANGE] = {"Change", "Изменение"},
        [M_SINCE_JAN] = {"Since 1 January", "С 1 января"},
        [M_DISTRICT] = {"District", "Район"},
        [M_ALL] = {"all", "все"},
        [M_FILTER] = {"Show", "Показать"},
        [M_BY_CATEGORY] = {"Complaints by category", "Обращения по категориям"},
        [M_BY_DISTRICT] = {"Complaints by district", "Обращения по районам"},
        [M_ESCALATIONS] = {"Escalations", "Эскалации"},
        [M_RATING] = {"KSK rating", "Рейтинг КСК"},
        [M_UNRATED] = {"Not rated", "Без рейтинга"},
        [M_NOW] = {"Now", "Сейчас"},
        [M_OPEN] = {"Open", "Открыто"},
        [M_RESOLVED_WEEK] = {"Resolved this week", "Выполнено за эту неделю"},
        [M_COMPLAINTS] = {"Complaints", "Обращения"},
        [M_CSV] = {"CSV", "CSV"},
        [M_KIND] = {"Kind", "Тип"},
        [M_ORG] = {"Organisation", "Организация"},
        [M_BUILDING] = {"Building", "Дом"},
        [M_WHEN] = {"When", "Когда"},
        [M_EVIDENCE] = {"Evidence", "Основание"},
        [M_RANK] = {"Rank", "Место"},
        [M_SCORE] = {"Score", "Балл"},
        [M_PER100] = {"Per 100 apartments", "На 100 квартир"},
        [M_RESOLVE_MEDIAN] = {"Median hours to resolve",
                              "Медиана часов до решения"},
        [M_SLA_RATE] = {"SLA breaches", "Нарушения срока"},
        [M_REPEAT_RATE] = {"Repeats", "Повторные"},
        [M_DISPUTED] = {"Disputed", "Оспорено"},
        [M_UNDELIVERED] = {"Undelivered notifications",
                           "Недоставленные уведомления"},
        [M_UNDELIVERED_HINT] =
                {"komek-notify gave these up after retrying: check the address "
                 "or your receiver, and the tasks in this inbox.",
                 "komek-notify прекратил попытки доставки: проверьте адрес или "
                 "ваш приёмник и заявки в этом списке."},
        [M_CHANNEL] = {"Channel", "Канал"},
        [M_TARGET] = {"Recipient", "Получатель"},
        [M_TRIES] = {"Tries", "Попыток"},
        [M_HANDED_OVER] = {"Handed over", "Переданы"},
        [M_HANDED_OVER_HINT] =
                {"Responsibility for these buildings changed: their open tasks "
                 "went to the new organisation (the last 30 days).",
                 "Ответственность за эти дома перешла к другой организации: "
                 "открытые заявки переданы ей (за последние 30 дней)."},
        [M_HANDOVER_NOTE] = {"Note", "Примечание"},
        [M_LAST_ERROR] = {"Last error", "Последняя ошибка"},
        [M_VOTES] = {"Votes", "Голоса"},
        [M_AVG_VOTE] = {"Average vote", "Средняя оценка"},
        [M_UNRATED_REASON] = {"Why", "Причина"},
        [M_NO_DATA] = {"No data.", "Нет данных."},
        [M_WEEKS_CHART] = {"weeks", "недель"},
        [M_ROUTED_NOTE] =
                {"Districts count routed complaints (first assignment).",
                 "Районы: маршрутизированные обращения (первое назначение)."},
        [M_RATING_MONTH] = {"Month", "Месяц"},
        [M_TOTAL] = {"Total", "Всего"},
        [M_UNMATCHED] = {"(address not matched)", "(адрес не найден)"},
        [M_ATTEMPT] = {"assignment", "назначение"},
        [M_NO_ESCALATIONS] = {"No escalations in this week.",
                              "Эскалаций за неделю нет."},
        [M_COMPONENTS] = {"Component scores 0-100", "Баллы компонентов 0-100"},
        [M_BEST] = {"Best", "Лучшие"},
        [M_WORST] = {"Worst", "Худшие"},
        [M_TOO_LARGE] = {"The form is too large.", "Форма слишком велика."},
        [M_BAD_FORM] = {"The form could not be read.",
                        "Форму не удалось прочитать."},
        [M_METHOD] = {"Method not allowed.", "Метод не поддерживается."},
        [M_EMERGENCY] = {"Emergency", "Авария"},
        [M_ROUTED_TO] = {"re-routed to", "перенаправлена:"},
        [M_SHOWN_OF] = {"shown", "показано"},
        [M_NAME] = {"Name", "Имя"},
        [M_PHONE] = {"Phone", "Телефон"},
        [M_EMAIL] = {"E-mail", "Эл. почта"},
        [M_NOTE_HINT] = {"up to 1,000 characters", "до 1000 символов"},
        [M_PARTIAL] = {"The week is not over: data up to",
                       "Неделя не закончилась: данные по"},
};

const char *web_t(const struct web_ctx *c, enum web_msg m)
{
        int ru = c->lang[0] == 'r';

        if (m >= M_COUNT || web_msgs[m][0] == NULL)
                return "?";
        return web_msgs[m][ru];
}

const char *web_status_name(const struct web_ctx *c, const char *status)
{
        static const char *const names[][3] = {
                {"open", "open", "новая"},
                {"acknowledged", "acknowledged", "в работе"},
                {"resolved", "resolved", "выполнена"},
                {"rejected", "rejected", "отклонена"},
                {"reopened", "reopened (disputed)", "возобновлена (оспорена)"},
                {"confirmed", "confirmed by the resident",
                 "подтверждена жителем"},
                {"commented", "resident's comment", "комментарий жителя"},
                /* notifications' kinds (the inbox's undelivered list) */
                {"new", "new task", "новая заявка"},
                {"reroute", "re-routed to you", "перенаправлена вам"},
                {"sla_warning", "SLA warning", "предупреждение о сроке"},
        };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(status, names[i][0]) == 0)
                        return names[i][c->lang[0] == 'r' ? 2 : 1];
        return status;
}

const char *web_category_name(const struct web_ctx *c, const char *code)
{
        const struct km_category *cat = km_conf_category(c->w->conf, code);

        if (cat == NULL)
                return code;
        return c->lang[0] == 'r' ? cat->ru : cat->en;
}

const char *web_kind_name(const struct web_ctx *c, const char *kind)
{
        static const char *const names[][3] = {
                {"sla_breach", "SLA breach", "Нарушение срока"},
                {"systemic", "Systemic problem", "Системная проблема"},
                {"inefficient_ksk", "Inefficient KSK", "Неэффективный КСК"},
                {"few_complaints", "few complaints", "мало обращений"},
                {"few_votes", "few votes", "мало голосов"},
                {"no_apartments", "no apartments", "нет квартир"},
        };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(kind, names[i][0]) == 0)
                        return names[i][c->lang[0] == 'r' ? 2 : 1];
        return kind;
}
