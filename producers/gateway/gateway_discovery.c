/*
 * gateway_discovery.c - GET /discovery(.xml|.json): the Open311 service
 * discovery document (GeoReport v2 "Service Discovery"): where this
 * endpoint is, which specification and formats it speaks, and which
 * extensions (docs/open311.md).
 *
 * SECURITY: without gateway.public_url the URL is built from the Host
 * header, which is untrusted: it is used only when it is a plain host
 * name or address with an optional port (else the url is empty), and it
 * is escaped like every answer.
 */
#include <stdio.h>
#include <string.h>

#include "gateway.h"

/* The last change of the API this document describes (bump with it). */
#define GATEWAY_CHANGESET "2026-12-02T00:00:00Z"

void gateway_discovery(struct gateway *gw, const char *host,
                       struct gateway_reply *rep)
{
        char url[300] = "";
        json_t *ep;

        if (gw->gc->public_url && *gw->gc->public_url)
                snprintf(url, sizeof(url), "%s", gw->gc->public_url);
        else if (host && *host && strlen(host) < 256 &&
                 strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
                              "TUVWXYZ0123456789.-:[]") == strlen(host))
                snprintf(url, sizeof(url), "http://%s", host);
        ep = json_pack("{s:s, s:s, s:s, s:s, s:[s, s]}", "specification",
                       "http://wiki.open311.org/GeoReport_v2", "url", url,
                       "changeset", GATEWAY_CHANGESET, "type", "production",
                       "formats", "text/xml", "application/json");
        rep->body = json_pack(
                "{s:s, s:s, s:s, s:[o], s:[s, s, s, s]}", "changeset",
                GATEWAY_CHANGESET, "contact",
                gw->gc->contact && *gw->gc->contact ? gw->gc->contact : "",
                "key_service",
                "API keys: komek-keys add (the city's operators, docs/intake.md)",
                "endpoints", ep, "extensions", "servicerequestupdates",
                "extensions=true (notes)", "page, page_size",
                "attribute[fixmystreet_id]");
        rep->status = 200;
        rep->root = "discovery";
        rep->item = "endpoint";
}
