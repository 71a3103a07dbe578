import sys, json; sys.path.insert(0,'/tmp/pgcapture')
import logtool
def build(jsonfile, header, outfile, use_app=True):
    """Statements between consecutive marks; the last mark is terminal."""
    info=json.load(open(jsonfile))
    apps = [info['app']] if (use_app and info.get('app')) else None
    marks=info['marks']
    allst=[]
    for i,(label,off) in enumerate(marks[:-1]):
        end = marks[i+1][1]
        st=logtool.statements(off, apps, None, end)
        for s in st:
            if s['name'] == '<unnamed>': s['name'] = 'unnamed'
        if st:
            st[0]['note']="-- api: "+label
        allst.extend(st)
    if outfile:
        open(outfile,'w').write(logtool.render(allst, header))
    return allst
