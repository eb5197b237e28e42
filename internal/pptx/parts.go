package pptx

// The parts every presentation shares: the theme, the slide master with
// its text styles, the two layouts (title slide; title and content) and
// the notes master. Places are in EMU (914400 per inch) on a 13.333 x 7.5
// inch (16:9) slide.

const colorMap = `<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" folHlink="folHlink"/>`

const theme = xmlHdr + `<a:theme ` + nsA + ` name="Paddock"><a:themeElements>` +
	`<a:clrScheme name="Paddock">` +
	`<a:dk1><a:sysClr val="windowText" lastClr="000000"/></a:dk1><a:lt1><a:sysClr val="window" lastClr="FFFFFF"/></a:lt1>` +
	`<a:dk2><a:srgbClr val="1F2937"/></a:dk2><a:lt2><a:srgbClr val="F3F4F6"/></a:lt2>` +
	`<a:accent1><a:srgbClr val="2563EB"/></a:accent1><a:accent2><a:srgbClr val="F59E0B"/></a:accent2>` +
	`<a:accent3><a:srgbClr val="10B981"/></a:accent3><a:accent4><a:srgbClr val="EF4444"/></a:accent4>` +
	`<a:accent5><a:srgbClr val="8B5CF6"/></a:accent5><a:accent6><a:srgbClr val="0EA5E9"/></a:accent6>` +
	`<a:hlink><a:srgbClr val="2563EB"/></a:hlink><a:folHlink><a:srgbClr val="7C3AED"/></a:folHlink></a:clrScheme>` +
	`<a:fontScheme name="Paddock">` +
	`<a:majorFont><a:latin typeface="Calibri Light"/><a:ea typeface=""/><a:cs typeface=""/></a:majorFont>` +
	`<a:minorFont><a:latin typeface="Calibri"/><a:ea typeface=""/><a:cs typeface=""/></a:minorFont></a:fontScheme>` +
	`<a:fmtScheme name="Paddock">` +
	`<a:fillStyleLst>` + phFill + phFill + phFill + `</a:fillStyleLst>` +
	`<a:lnStyleLst>` + phLine + phLine + phLine + `</a:lnStyleLst>` +
	`<a:effectStyleLst><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle><a:effectStyle><a:effectLst/></a:effectStyle></a:effectStyleLst>` +
	`<a:bgFillStyleLst>` + phFill + phFill + phFill + `</a:bgFillStyleLst>` +
	`</a:fmtScheme></a:themeElements><a:objectDefaults/><a:extraClrSchemeLst/></a:theme>`

const (
	phFill = `<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>`
	phLine = `<a:ln w="6350" cap="flat" cmpd="sng" algn="ctr">` + phFill + `<a:prstDash val="solid"/></a:ln>`
)

// defRPr is a text style's run properties: size in hundredths of a point,
// the font ("mj": the theme's major font, "mn": minor).
func defRPr(size, font, color string) string {
	return `<a:defRPr sz="` + size + `" kern="1200"><a:solidFill><a:schemeClr val="` + color + `"/></a:solidFill>` +
		`<a:latin typeface="+` + font + `-lt"/><a:ea typeface="+` + font + `-ea"/><a:cs typeface="+` + font + `-cs"/></a:defRPr>`
}

// placeholder is a master's or layout's placeholder shape at a place, with
// a list style and the prompt PowerPoint shows in an empty one.
func placeholder(id, name, ph, x, y, cx, cy, anchor, lstStyle, prompt string) string {
	return `<p:sp><p:nvSpPr><p:cNvPr id="` + id + `" name="` + name + `"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr>` + ph + `</p:nvPr></p:nvSpPr>` +
		`<p:spPr><a:xfrm><a:off x="` + x + `" y="` + y + `"/><a:ext cx="` + cx + `" cy="` + cy + `"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr>` +
		`<p:txBody><a:bodyPr vert="horz" lIns="91440" tIns="45720" rIns="91440" bIns="45720" rtlCol="0" anchor="` + anchor + `"><a:normAutofit/></a:bodyPr>` +
		`<a:lstStyle>` + lstStyle + `</a:lstStyle><a:p><a:r><a:rPr lang="en-US"/><a:t>` + prompt + `</a:t></a:r></a:p></p:txBody></p:sp>`
}

func bodyLevel(n, marL, size string) string {
	return `<a:lvl` + n + `pPr marL="` + marL + `" indent="-228600" algn="l" defTabSz="914400" rtl="0" eaLnBrk="1" latinLnBrk="0" hangingPunct="1">` +
		`<a:lnSpc><a:spcPct val="90000"/></a:lnSpc><a:spcBef><a:spcPts val="1000"/></a:spcBef><a:buFont typeface="Arial"/><a:buChar char="&#8226;"/>` +
		defRPr(size, "mn", "tx1") + `</a:lvl` + n + `pPr>`
}

var slideMaster = xmlHdr + `<p:sldMaster ` + nsARP + `><p:cSld><p:bg><p:bgRef idx="1001"><a:schemeClr val="bg1"/></p:bgRef></p:bg>` +
	spTreeStart +
	placeholder("2", "Title Placeholder 1", `<p:ph type="title"/>`, "838200", "365125", "10515600", "1325563", "ctr", "", "Click to edit Master title style") +
	placeholder("3", "Text Placeholder 2", `<p:ph type="body" idx="1"/>`, "838200", "1825625", "10515600", "4351338", "t", "", "Click to edit Master text styles") +
	`</p:spTree></p:cSld>` + colorMap +
	`<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/><p:sldLayoutId id="2147483650" r:id="rId2"/></p:sldLayoutIdLst>` +
	`<p:txStyles>` +
	`<p:titleStyle><a:lvl1pPr algn="l" defTabSz="914400" rtl="0" eaLnBrk="1" latinLnBrk="0" hangingPunct="1"><a:lnSpc><a:spcPct val="90000"/></a:lnSpc><a:spcBef><a:spcPct val="0"/></a:spcBef><a:buNone/>` +
	defRPr("4400", "mj", "tx2") + `</a:lvl1pPr></p:titleStyle>` +
	`<p:bodyStyle>` + bodyLevel("1", "228600", "2800") + bodyLevel("2", "685800", "2400") + bodyLevel("3", "1143000", "2000") + `</p:bodyStyle>` +
	`<p:otherStyle><a:defPPr><a:defRPr lang="en-US"/></a:defPPr><a:lvl1pPr marL="0" algn="l" defTabSz="914400" rtl="0" eaLnBrk="1" latinLnBrk="0" hangingPunct="1">` +
	defRPr("1800", "mn", "tx1") + `</a:lvl1pPr></p:otherStyle>` +
	`</p:txStyles></p:sldMaster>`

var titleLayout = xmlHdr + `<p:sldLayout ` + nsARP + ` type="title" preserve="1"><p:cSld name="Title Slide">` + spTreeStart +
	placeholder("2", "Title 1", `<p:ph type="ctrTitle"/>`, "1524000", "1122363", "9144000", "2387600", "b",
		`<a:lvl1pPr algn="ctr">`+defRPr("6000", "mj", "tx2")+`</a:lvl1pPr>`, "Click to edit Master title style") +
	placeholder("3", "Subtitle 2", `<p:ph type="subTitle" idx="1"/>`, "1524000", "3602038", "9144000", "1655762", "t",
		`<a:lvl1pPr marL="0" indent="0" algn="ctr"><a:buNone/>`+defRPr("2400", "mn", "tx1")+`</a:lvl1pPr>`, "Click to edit Master subtitle style") +
	`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>`

const contentLayout = xmlHdr + `<p:sldLayout ` + nsARP + ` type="obj" preserve="1"><p:cSld name="Title and Content">` + spTreeStart +
	`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Title 1"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:spPr/>` +
	`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:rPr lang="en-US"/><a:t>Click to edit Master title style</a:t></a:r></a:p></p:txBody></p:sp>` +
	`<p:sp><p:nvSpPr><p:cNvPr id="3" name="Content Placeholder 2"/><p:cNvSpPr><a:spLocks noGrp="1"/></p:cNvSpPr><p:nvPr><p:ph idx="1"/></p:nvPr></p:nvSpPr><p:spPr/>` +
	`<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:pPr lvl="0"/><a:r><a:rPr lang="en-US"/><a:t>Click to edit Master text styles</a:t></a:r></a:p></p:txBody></p:sp>` +
	`</p:spTree></p:cSld><p:clrMapOvr><a:masterClrMapping/></p:clrMapOvr></p:sldLayout>`

var notesMaster = xmlHdr + `<p:notesMaster ` + nsARP + `><p:cSld><p:bg><p:bgRef idx="1001"><a:schemeClr val="bg1"/></p:bgRef></p:bg>` + spTreeStart +
	`<p:sp><p:nvSpPr><p:cNvPr id="2" name="Slide Image Placeholder 1"/><p:cNvSpPr><a:spLocks noGrp="1" noRot="1" noChangeAspect="1"/></p:cNvSpPr><p:nvPr><p:ph type="sldImg" idx="2"/></p:nvPr></p:nvSpPr>` +
	`<p:spPr><a:xfrm><a:off x="685800" y="1143000"/><a:ext cx="5486400" cy="3086100"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom><a:noFill/></p:spPr></p:sp>` +
	placeholder("3", "Notes Placeholder 2", `<p:ph type="body" sz="quarter" idx="3"/>`, "685800", "4400550", "5486400", "3600450", "t", "", "Click to edit Master text styles") +
	`</p:spTree></p:cSld>` + colorMap +
	`<p:notesStyle><a:lvl1pPr marL="0" algn="l" defTabSz="914400" rtl="0" eaLnBrk="1" latinLnBrk="0" hangingPunct="1">` + defRPr("1200", "mn", "tx1") + `</a:lvl1pPr></p:notesStyle></p:notesMaster>`
