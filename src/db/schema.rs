// @generated automatically by Diesel CLI.

diesel::table! {
    attachments (id) {
        id -> Integer,
        message_id -> Integer,
        kind -> Text,
        file_id -> Text,
        file_unique_id -> Text,
        name -> Nullable<Text>,
        size -> Nullable<BigInt>,
        width -> Integer,
        height -> Integer,
        caption -> Nullable<Text>,
    }
}

diesel::table! {
    chats (id) {
        id -> BigInt,
        kind -> Text,
        title -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        blocked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    conversations (chat_id, topic_id) {
        chat_id -> BigInt,
        topic_id -> BigInt,
        system_prompt -> Nullable<Text>,
        model -> Nullable<Text>,
        role -> Nullable<Text>,
    }
}

diesel::table! {
    messages (id) {
        id -> Integer,
        chat_id -> BigInt,
        role -> Text,
        content -> Text,
        tokens -> Integer,
        telegram_message_id -> Nullable<BigInt>,
        created_at -> BigInt,
        folded -> Bool,
        topic_id -> BigInt,
    }
}

diesel::table! {
    summaries (id) {
        id -> Integer,
        chat_id -> BigInt,
        content -> Text,
        tokens -> Integer,
        first_message_id -> Integer,
        last_message_id -> Integer,
        created_at -> BigInt,
        topic_id -> BigInt,
    }
}

diesel::table! {
    usage (chat_id, topic_id) {
        chat_id -> BigInt,
        topic_id -> BigInt,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
        requests -> BigInt,
    }
}

diesel::table! {
    usage_daily (day, user_id, chat_id, model, kind, source) {
        day -> Text,
        user_id -> BigInt,
        chat_id -> BigInt,
        model -> Text,
        kind -> Text,
        source -> Text,
        requests -> BigInt,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
    }
}

diesel::joinable!(attachments -> messages (message_id));
diesel::joinable!(conversations -> chats (chat_id));
diesel::joinable!(messages -> chats (chat_id));
diesel::joinable!(summaries -> chats (chat_id));
diesel::joinable!(usage -> chats (chat_id));

diesel::allow_tables_to_appear_in_same_query!(
    attachments,
    chats,
    conversations,
    messages,
    summaries,
    usage,
    usage_daily,
);
