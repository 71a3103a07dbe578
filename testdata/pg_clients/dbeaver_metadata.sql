-- Client: DBeaver 25.1.5 (through pgjdbc) — NOT captured here. Statements are the DBEAVER_QUERIES
--   of datafusion-postgres 0.19.0 tests/dbeaver.rs (cargo registry), in order, verbatim (incl. the
--   corpus' typos inside the keyword list). That corpus writes literals where DBeaver binds JDBC
--   parameters: c.relnamespace=11, i.indrelid=1, c.conrelid=1, and c.relnamespace='public' (which
--   PostgreSQL rejects: 22P02, see dbeaver-16).
-- Protocol: not observed. DBeaver goes through pgjdbc: extended protocol (unnamed statements,
--   text results; binary for some types once a statement is prepared).
-- Verified: every statement was run on PostgreSQL 15.18 (Debian 15.18-0+deb12u1)
--   (database "home" with the energy table of README.md, superuser, TimeZone Etc/UTC) as a simple
--   Query (text results) and as Parse/Bind/Execute with binary results (psycopg 3 / libpq).
--   '-- pg15:' is what PostgreSQL answered to the simple Query: columns as 'name type' and the
--   row count, or 'ERROR <SQLSTATE> <message>'; '-- pg15 binary:' is added where the binary run
--   answered differently. Row counts depend on the catalog and are not compared.
-- Checker: crates/hearth/tests/integration/pg_corpus.py (runs both protocols against a server).
-- Regenerate: testdata/pg_clients/capture/corpus_fixtures.py.
-- Statements are separated by a line containing only ';;'; '-- id:' names each one.

-- id: dbeaver-0
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[0]
-- pg15: 0 columns; SET
SET extra_float_digits = 3
;;
-- id: dbeaver-1
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[1]
-- pg15: 0 columns; SET
SET application_name = 'PostgreSQL JDBC Driver'
;;
-- id: dbeaver-2
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[2]
-- pg15: 0 columns; SET
SET application_name = 'DBeaver 25.1.5 - Main <postgres>'
;;
-- id: dbeaver-3
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[3]
-- pg15: 2 columns: current_schema name, session_user name; 1 row
SELECT current_schema(),session_user
;;
-- id: dbeaver-4
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[4]
-- pg15: 6 columns: oid oid, oid oid, nspname name, nspowner oid, nspacl aclitem[], description text; 4 rows
-- pg15 binary: ERROR 42883 no binary output function available for type aclitem
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname
;;
-- id: dbeaver-5
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[5]
-- pg15: 3 columns: ?column? bool, nspname name, typname name; 1 row
SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1034
;;
-- id: dbeaver-6
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[6]
-- pg15: 4 columns: is_array bool, typtype char, typname name, oid oid; 1 row
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = 1034  ORDER BY sp.r, pg_type.oid DESC
;;
-- id: dbeaver-7
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[7]
-- pg15: 1 column: search_path text; 1 row
SHOW search_path
;;
-- id: dbeaver-8
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[8]
-- pg15: 17 columns: oid oid, oid oid, datname name, datdba oid, encoding int4, datlocprovider char, datistemplate bool, datallowconn bool, datconnlimit int4, datfrozenxid xid, datminmxid xid, dattablespace oid, datcollate text, datctype text, daticulocale text, datcollversion text, datacl aclitem[]; 1 row
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='postgres'
;;
-- id: dbeaver-9
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[9]
-- pg15: 17 columns: name text, setting text, unit text, category text, short_desc text, extra_desc text, context text, vartype text, source text, min_val text, max_val text, enumvals text[], boot_val text, reset_val text, sourcefile text, sourceline int4, pending_restart bool; 1 row
SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'
;;
-- id: dbeaver-10
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[10]
-- pg15: 1 column: string_agg text; 1 row
SELECT string_agg(word, ',' ) from pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute,action,ada,add,admin,after,all,allocate,alter,aIways,and,any,are,array,as,asc,asenstitive,assertion,assignment,asymmetric,at,atomic,attribute,attributes,authorization,avg,before,begin,bernoulli,between,bigint,binary,blob,boolean,both,breaadth,by,c,call,called,cardinaliity,cascade,cascaded,case,cast,catalog,catalog_name,ceil,ceiling,chain,char,char_length,character,character_length,character_set_catalog,character_set_name,character_set_schema,characteristics,characters,check,checkeed,class_origin,clob,close,coalesce,coboI,code_units,collate,collation,collaition_catalog,collaition_name,collaition_schema,collect,colum,column_name,command_function,command_function_code,commit,committed,condiition,condiition_number,connect,connection_name,constraint,constraint_catalog,constraint_name,constraint_schema,constraints,constructors,contains,continue,convert,corr,correspondiing,count,covar_pop,covar_samp,create,cross,cube,cume_dist,current,current_collation,current_date,current_default_transfom_group,current_path,current_role,current_time,current_timestamp,current_transfom_group_for_type,current_user,cursor,cursor_name,cycle,data,date,datetime_interval_code,datetime_interval_precision,day,deallocate,dec,decimaI,declare,default,defaults,not,null,nullable,nullif,nulls,number,numeric,object,octeet_length,octets,of,old,on,only,open,option,options,or,order,ordering,ordinaliity,others,out,outer,output,over,overlaps,overlay,overriding,pad,parameter,parameter_mode,parameter_name,parameter_ordinal_position,parameter_speciific_catalog,parameter_speciific_name,parameter_speciific_schema,partiaI,partitioon,pascal,path,percent_rank,percentile_cont,percentile_disc,placing,pli,position,power,preceding,precision,prepare,preseerv,primary,prior,privileges,procedure,public,range,rank,read,reads,real,recursivve,ref,references,referencing,regr_avgx,regr_avgy,regr_count,regr_intercept,regr_r2,regr_slope,regr_sxx,regr_sxy,regr_sy y,relative,release,repeatable,restart,result,retun,returned_cardinality,returned_length,returned_octeet_length,returned_sqlstate,returns,revoe,right,role,rollback,rollup,routine,routine_catalog,routine_name,routine_schema,row,row_count,row_number,rows,savepoint,scale,schema,schema_name,scope_catalog,scope_name,scope_schema,scroll,search,second,section,security,select,self,sensitive,sequence,seriializeable,server_name,session,session_user,set,sets,similar,simple,size,smalIint,some,source,space,specifiic,speciific_name,speciifictype,sql,sqlexception,sqlstate,sqlwarning,sqrt,start,state,statement,static,stddev_pop,stddev_samp,structure,style,subclass_origin,submultiset,substring,sum,symmetric,system,system_user,table,table_name,tablesample,temporary,then,ties,time,timesamp,timezone_hour,timezone_minute,to,top_level_count,trailing,transaction,transaction_active,transactions_committed,transactions_rolled_back,transfor,transforms,translate,translation,treat,trigger,trigger_catalog,trigger_name,trigger_schema,trim,true,type,unbounde,undefined,uncommitted,under,union,unique,unknown,unnaamed,unnest,update,upper,usage,user,user_defined_type_catalog,user_defined_type_code,user_defined_type_name,user_defined_type_schema,using,value,values,var_pop,var_samp,varchar,varying,view,when,whenever,where,width_bucket,window,with,within,without,work,write,year,zone}'::text[])
;;
-- id: dbeaver-11
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[11]
-- pg15: 1 column: version text; 1 row
SELECT version()
;;
-- id: dbeaver-12
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[12]
-- pg15: 4 columns: oid oid, enumtypid oid, enumsortorder float4, enumlabel name; 0 rows
SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1
;;
-- id: dbeaver-13
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[13]
-- pg15: 1 column: reltype oid; 0 rows
SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1
;;
-- id: dbeaver-14
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[14]
-- pg15: 36 columns: oid oid, oid oid, typname name, typnamespace oid, typowner oid, typlen int2, typbyval bool, typtype char, typcategory char, typispreferred bool, typisdefined bool, typdelim char, typrelid oid, typsubscript regproc, typelem oid, typarray oid, typinput regproc, typoutput regproc, typreceive regproc, typsend regproc, typmodin regproc, typmodout regproc, typanalyze regproc, typalign char, typstorage char, typnotnull bool, typbasetype oid, typtypmod int4, typndims int4, typcollation oid, typdefaultbin pg_node_tree, typdefault text, typacl aclitem[], relkind char, base_type_name text, description text; 195 rows
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')
;;
-- id: dbeaver-15
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[15]
-- pg15: 37 columns: oid oid, oid oid, relname name, relnamespace oid, reltype oid, reloftype oid, relowner oid, relam oid, relfilenode oid, reltablespace oid, relpages int4, reltuples float4, relallvisible int4, reltoastrelid oid, relhasindex bool, relisshared bool, relpersistence char, relkind char, relnatts int2, relchecks int2, relhasrules bool, relhastriggers bool, relhassubclass bool, relrowsecurity bool, relforcerowsecurity bool, relispopulated bool, relreplident char, relispartition bool, relrewrite oid, relfrozenxid xid, relminmxid xid, relacl aclitem[], reloptions text[], relpartbound pg_node_tree, description text, partition_expr text, partition_key text; 139 rows
-- pg15 binary: ERROR 42883 no binary output function available for type aclitem
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key
    FROM pg_catalog.pg_class c
    LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
    WHERE c.relnamespace=11 AND c.relkind not in ('i','I','c')
;;
-- id: dbeaver-16
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[16]
-- pg15: ERROR 22P02 invalid input syntax for type oid: "public"
select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size
     FROM pg_class c
     WHERE c.relnamespace='public'
;;
-- id: dbeaver-17
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[17]
-- pg15: 32 columns: indexrelid oid, indrelid oid, indnatts int2, indnkeyatts int2, indisunique bool, indnullsnotdistinct bool, indisprimary bool, indisexclusion bool, indimmediate bool, indisclustered bool, indisvalid bool, indcheckxmin bool, indisready bool, indislive bool, indisreplident bool, indkey int2vector, indcollation oidvector, indclass oidvector, indoption int2vector, indexprs pg_node_tree, indpred pg_node_tree, keys int2vector, relname name, relnamespace oid, relam oid, reltablespace oid, tabrelname name, description text, pred_expr text, expr text, index_rel_size int8, index_num_scans int8; 0 rows
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i
    INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
    INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
    LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
    WHERE  i.indrelid=1 ORDER BY tabrelname, c.relname
;;
-- id: dbeaver-18
-- api: datafusion-postgres 0.19.0 tests/dbeaver.rs DBEAVER_QUERIES[18]
-- pg15: 31 columns: oid oid, oid oid, conname name, connamespace oid, contype char, condeferrable bool, condeferred bool, convalidated bool, conrelid oid, contypid oid, conindid oid, conparentid oid, confrelid oid, confupdtype char, confdeltype char, confmatchtype char, conislocal bool, coninhcount int4, connoinherit bool, conkey int2[], confkey int2[], conpfeqop oid[], conppeqop oid[], conffeqop oid[], confdelsetcols int2[], conexclop oid[], conbin pg_node_tree, tabrelname name, refnamespace oid, description text, consrc_copy text; 0 rows
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
    FROM pg_catalog.pg_constraint c
    INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
    LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
    LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
    WHERE c.conrelid=1
    ORDER BY c.oid
;;
