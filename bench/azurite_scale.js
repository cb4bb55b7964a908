// Preloaded (node --require) into the Azurite that the benchmarks start, never into the tests' Azurite.
//
// Azurite 3.35-3.37 (the latest on npm in 2026-12) keeps blob metadata in LokiJS and cannot serve the
// benchmarks' sizes as it is (measured: `python bench/azurite_scale.py`):
//
// 1. Every blob lookup (Put Blob's create-only check, Get Blob, Delete Blob, Set Blob Tags) queries
//    {accountName, containerName, name, snapshot}; LokiJS uses the binary index of the FIRST key only,
//    accountName, which every blob shares: each lookup scans every blob of the emulator, so creating N blobs
//    costs N^2 (Put Blob 196/s at 2,000 blobs, 90/s at 20,000; docs/performance.md). AND is commutative: the
//    lookup is asked with `name` first, which LokiJS answers from its binary index on name. Same results.
// 2. Deleting one blob goes through LokiJS's batch removal, which re-sorts every binary index of the
//    collection (100,000 blobs: four sorts per Delete Blob). One document is removed as LokiJS removes one
//    document (its indices updated in place).
// 3. Find Blobs by Tags scans the first `maxresults` blobs after the marker, keeps the matches and, when
//    fewer than `maxresults` match, answers with no NextMarker: every match among later blobs is lost
//    (12,000 blobs, 6,000 tagged x=1: one page of 2,500, no marker). Here the scan covers every blob after
//    the marker and the page is cut at `maxresults` with a NextMarker, as the service does.
//
// Both change how the emulator finds blobs, not what any request answers (except the lost matches): the
// ratios the benchmarks print compare our commands with raw requests on the same emulator.
"use strict";
const path = require("path");

const modules = process.env.AZURITE_MODULES;
if (!modules) throw new Error("azurite_scale.js: AZURITE_MODULES (Azurite's node_modules folder) is not set");

const Loki = require(path.join(modules, "lokijs"));
const find = Loki.Resultset.prototype.find;
Loki.Resultset.prototype.find = function (query, firstOnly) {
  if (query && typeof query === "object" && typeof query.name === "string") {
    const keys = Object.keys(query);
    if (keys.length > 1 && keys[0] !== "name") {
      const reordered = { name: query.name };
      for (const k of keys) if (k !== "name") reordered[k] = query[k];
      query = reordered;
    }
  }
  return find.call(this, query, firstOnly);
};

const remove = Loki.Resultset.prototype.remove;
Loki.Resultset.prototype.remove = function () {
  if (this.filterInitialized && this.filteredrows.length === 1) {
    this.collection.remove(this.collection.data[this.filteredrows[0]]);
    this.filteredrows = [];
    return this;
  }
  return remove.call(this);
};

const Store = require(path.join(modules, "azurite/dist/src/blob/persistence/LokiBlobMetadataStore.js")).default;
const filterBlobs = Store.prototype.filterBlobs;
if (typeof filterBlobs !== "function") throw new Error("azurite_scale.js: this Azurite has no filterBlobs to fix");
Store.prototype.filterBlobs = async function (context, account, container, where, maxResults = 5000, marker = "") {
  const [items] = await filterBlobs.call(this, context, account, container, where, Number.MAX_SAFE_INTEGER, marker);
  if (items.length <= maxResults) return [items, ""];
  const page = items.slice(0, maxResults);
  return [page, page[page.length - 1].name];
};
