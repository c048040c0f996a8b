//! Per-app tokens in the main table: the token item is keyed by the hash of its value (so a
//! request is authenticated with one consistent `GetItem`), and a small id item points at it
//! (for `DELETE /v1/tokens/{id}`). Layouts are documented on the parent module.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use patchbay_core::model::AppToken;
use patchbay_core::ports::{StoreError, StoreResult, TokenStore};

use super::main_table::{DynamoStore, EXISTS, NOT_EXISTS, key, unless_condition_failed};
use super::schema::{GSI1, GSI1PK, GSI1SK};
use super::{Item, Transaction, attr_opt_s, attr_s, attr_ts, from_doc, s, to_doc, transact, ts};

const TOKEN_SK: &str = "TOKEN";
/// Authoritative over the copy in `doc`: `touch_token` sets it alone.
const LAST_USED: &str = "last_used_at";

fn token_pk(hash: &str) -> String {
    format!("TOKHASH#{hash}")
}
fn token_id_pk(id: &str) -> String {
    format!("TOKEN#{id}")
}

fn token_item(token: &AppToken) -> StoreResult<Item> {
    let mut item = key(token_pk(&token.hash), TOKEN_SK);
    item.insert("doc".into(), to_doc(token)?);
    item.insert("token_id".into(), s(&token.id));
    if let Some(at) = token.last_used_at {
        item.insert(LAST_USED.into(), s(ts(at)));
    }
    item.insert(GSI1PK.into(), s(format!("APPTOK#{}", token.app_id)));
    item.insert(GSI1SK.into(), s(format!("{}#{}", ts(token.created_at), token.id)));
    Ok(item)
}

fn token_id_item(token: &AppToken) -> Item {
    let mut item = key(token_id_pk(&token.id), TOKEN_SK);
    item.insert("hash".into(), s(&token.hash));
    item
}

fn token_from_item(item: &Item) -> StoreResult<AppToken> {
    let mut token: AppToken = from_doc(item)?;
    if attr_opt_s(item, LAST_USED)?.is_some() {
        token.last_used_at = Some(attr_ts(item, LAST_USED)?);
    }
    Ok(token)
}

impl DynamoStore {
    /// The hash an id points at, if the token exists.
    async fn token_hash(&self, id: &str) -> StoreResult<Option<String>> {
        let item = self.get_item(token_id_pk(id), TOKEN_SK).await?;
        item.map(|i| attr_s(&i, "hash").map(str::to_owned)).transpose()
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn create_token(&self, token: &AppToken) -> StoreResult<()> {
        let actions = vec![
            self.put_action(token_item(token)?, NOT_EXISTS, &[], false)?,
            self.put_action(token_id_item(token), NOT_EXISTS, &[], false)?,
        ];
        match transact(&self.client, actions).await? {
            Transaction::Committed => Ok(()),
            Transaction::ConditionsFailed(_) => Err(StoreError::AlreadyExists(format!("token {}", token.id))),
        }
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<AppToken>> {
        self.get_item(token_pk(hash), TOKEN_SK).await?.as_ref().map(token_from_item).transpose()
    }

    async fn list_tokens(&self, app_id: &str) -> StoreResult<Vec<AppToken>> {
        let items = self
            .query_all(
                Some(GSI1),
                "#pk = :pk",
                None,
                &[("#pk", GSI1PK)],
                &[(":pk", s(format!("APPTOK#{app_id}")))],
            )
            .await?;
        items.iter().map(token_from_item).collect()
    }

    async fn delete_token(&self, id: &str) -> StoreResult<AppToken> {
        let not_found = || StoreError::NotFound(format!("token {id}"));
        let hash = self.token_hash(id).await?.ok_or_else(not_found)?;
        let item = self.get_item(token_pk(&hash), TOKEN_SK).await?.ok_or_else(not_found)?;
        let token = token_from_item(&item)?;
        let actions = vec![
            self.delete_action(key(token_pk(&hash), TOKEN_SK), EXISTS, &[])?,
            self.delete_action(key(token_id_pk(id), TOKEN_SK), EXISTS, &[])?,
        ];
        match transact(&self.client, actions).await? {
            Transaction::Committed => Ok(token),
            // Revoked concurrently: gone either way.
            Transaction::ConditionsFailed(_) => Err(not_found()),
        }
    }

    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let not_found = || StoreError::NotFound(format!("token {id}"));
        let hash = self.token_hash(id).await?.ok_or_else(not_found)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(token_pk(&hash), TOKEN_SK)))
            .update_expression("SET #last = :at")
            .condition_expression(EXISTS)
            .expression_attribute_names("#last", LAST_USED)
            .expression_attribute_values(":at", s(ts(at)))
            .send()
            .await;
        unless_condition_failed(result, not_found)
    }
}
